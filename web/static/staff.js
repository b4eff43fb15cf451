// Hotline staff console: live queue, claim, two-way chat, hand back / transfer / close, slots and tickets.
// Commands go over HTTP (/api/staff/handoff/...); live events arrive on the /ws/staff socket. All text is set with
// textContent (never innerHTML): residents' messages cannot inject markup into the console.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = { me: null, config: null, sessions: [], current: null, detail: null, unread: new Set(),
                  offset: 0, ticket: null };

  // ------------------------------------------------------------------ helpers
  const { api, el } = window.BianminConsole;

  function since(iso) { return iso ? Math.max(0, Date.now() + state.offset - Date.parse(iso)) : 0; }
  function duration(ms) {
    const s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h ? `${h}小时${m}分` : `${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}`;
  }
  function showError(text) { $("error").textContent = text || ""; }
  function banner(text) { $("banner").textContent = text || ""; $("banner").hidden = !text; }
  function sessionById(id) { return state.sessions.find((s) => s.id === id); }

  // ------------------------------------------------------------------ the lists
  function waitSpan(iso, prefix) {
    const span = el("span", "wait", "");
    span.dataset.since = iso || ""; span.dataset.prefix = prefix || "";
    span.textContent = prefix + duration(since(iso));
    return span;
  }

  function renderLists() {
    const me = state.me && state.me.username;
    const queued = state.sessions.filter((s) => s.status === "queued");
    const mine = state.sessions.filter((s) => s.status === "active" && s.claimed_by === me);
    const others = state.sessions.filter((s) => s.status === "active" && s.claimed_by !== me);
    $("queued-count").textContent = queued.length;
    $("mine-count").textContent = mine.length;

    const fill = (list, items, make, emptyText) => {
      list.replaceChildren();
      if (!items.length) { list.appendChild(el("li", "empty", emptyText)); return; }
      for (const s of items) list.appendChild(make(s));
    };
    fill($("queue"), queued, (s) => {
      const li = el("li", "queue-item selectable" + (state.current === s.id ? " selected" : ""));
      li.dataset.id = s.id;
      const line = el("div", "item-line");
      line.append(el("span", "who", `居民 …${s.sender_short}`), el("span", `reason ${s.reason}`, s.reason_zh),
                  waitSpan(s.queued_at, "已等待 "));
      const btn = el("button", "claim", "接入");
      btn.type = "button";
      btn.addEventListener("click", (ev) => { ev.stopPropagation(); claim(s.id, btn); });
      const foot = el("div", "item-line");
      foot.append(el("div", "preview", s.last_message || "（还没有新消息）"), btn);
      li.append(line, foot);
      li.addEventListener("click", () => open(s.id));
      return li;
    }, "暂无排队的居民");
    fill($("mine"), mine, (s) => {
      const li = el("li", "mine-item selectable" + (state.current === s.id ? " selected" : "")
                    + (state.unread.has(s.id) ? " unread" : ""));
      li.dataset.id = s.id;
      const line = el("div", "item-line");
      line.append(el("span", "who", `居民 …${s.sender_short}`), waitSpan(s.claimed_at, "接待 "));
      li.append(line, el("div", "preview", s.last_message || ""));
      li.addEventListener("click", () => open(s.id));
      return li;
    }, "暂无");
    fill($("others"), others, (s) => {
      const li = el("li", "other-item");
      const line = el("div", "item-line");
      line.append(el("span", "who", `居民 …${s.sender_short}`), el("span", "hint", `由 ${s.claimed_by_name || s.claimed_by} 接待`));
      li.append(line);
      return li;
    }, "暂无");
  }

  setInterval(() => {
    for (const span of document.querySelectorAll(".wait[data-since]")) {
      span.textContent = span.dataset.prefix + duration(since(span.dataset.since));
    }
  }, 1000);

  // ------------------------------------------------------------------ the conversation
  function appendMessage(m) {
    const row = el("div", `msg ${m.from}`);
    const bubble = el("div", "bubble");
    if (m.from === "staff") bubble.appendChild(el("span", "tag", `工作人员 ${m.staff_name || ""}`));
    else if (m.from === "bot") bubble.appendChild(el("span", "tag", "智能助手"));
    else if (m.from === "user") bubble.appendChild(el("span", "tag", "居民"));
    bubble.appendChild(document.createTextNode(m.text || ""));
    if (m.buttons && m.buttons.length) {
      bubble.appendChild(el("span", "tag", "按钮：" + m.buttons.map((b) => b.title).join(" / ")));
    }
    row.appendChild(bubble);
    $("transcript").appendChild(row);
    $("transcript").scrollTop = $("transcript").scrollHeight;
  }

  function setControls(session) {
    const mine = session && session.status === "active" && session.claimed_by === state.me.username;
    const admin = state.me.role === "admin";
    const owner = session && session.status === "active" && (mine || admin);
    $("reply").disabled = !mine; $("send").disabled = !mine;
    for (const b of $("quick").querySelectorAll("button")) b.disabled = !mine;
    $("handback").disabled = !owner; $("handback-intent").disabled = !owner;
    $("transfer").disabled = !owner; $("transfer-user").disabled = !owner;
    $("close").disabled = !owner;
    const ticketsAllowed = session && (session.status === "queued" || owner);
    for (const node of $("ticket-form").elements) node.disabled = !ticketsAllowed;
  }

  function renderHeader(session) {
    $("conv-title").textContent = `会话 #${session.id} · 居民 …${session.sender_short}`;
    const status = $("conv-status");
    status.className = `badge ${session.status}`;
    status.textContent = session.status === "queued" ? "排队中" : session.status === "active"
      ? `接待中：${session.claimed_by_name || session.claimed_by}` : "已结束";
    $("conv-meta").textContent = `转人工原因：${session.reason_zh} · 渠道：${session.channel}`;
  }

  function renderSlots(slots) {
    const body = $("slots").tBodies[0];
    body.replaceChildren();
    if (!slots || !slots.length) {
      const tr = el("tr"); tr.appendChild(el("td", "empty", "还没有收集到信息")); body.appendChild(tr); return;
    }
    for (const s of slots) {
      const tr = el("tr");
      const name = el("td", null, s.label); name.title = s.name;
      tr.append(name, el("td", null, typeof s.value === "string" ? s.value : JSON.stringify(s.value)));
      body.appendChild(tr);
    }
  }

  async function open(id) {
    state.current = id;
    state.unread.delete(id);
    showError(""); banner("");
    renderLists();
    $("placeholder").hidden = true; $("conv").hidden = false;
    $("transcript").replaceChildren(el("div", "msg system", "正在加载…"));
    try {
      const data = await api("GET", `/api/staff/handoff/${id}`);
      if (state.current !== id) return;
      state.detail = data;
      renderHeader(data.session);
      $("transcript").replaceChildren();
      for (const m of data.transcript) appendMessage(m);
      renderSlots(data.slots);
      setControls(data.session);
      if (data.session.status === "queued") banner("居民正在排队，点“接入”后才能回复。");
      loadTickets();
    } catch (e) {
      $("transcript").replaceChildren();
      setControls(null);
      showError(e.message);
    }
  }

  async function claim(id, btn) {
    if (btn) btn.disabled = true;
    try {
      await api("POST", `/api/staff/handoff/${id}/claim`);
      await open(id);
      $("reply").focus();
    } catch (e) {
      showError(e.status === 409 ? "这个会话已被其他同事接入。" : e.message);
      if (btn) btn.disabled = false;
    }
  }

  async function sendReply(text) {
    if (!state.current || !text.trim()) return;
    $("send").disabled = true;
    try {
      const data = await api("POST", `/api/staff/handoff/${state.current}/messages`, { text });
      appendMessage(data.message);
      $("reply").value = "";
      showError("");
    } catch (e) {
      showError(e.message);
    } finally {
      const s = state.detail && state.detail.session;
      $("send").disabled = !(s && s.status === "active" && s.claimed_by === state.me.username);
    }
  }

  function ended(text) {
    if (state.detail) state.detail.session.status = "closed";
    banner(text);
    setControls(state.detail && { ...state.detail.session, status: "closed" });
    $("conv-status").className = "badge"; $("conv-status").textContent = "已结束";
  }

  async function command(path, body, doneText) {
    showError("");
    try {
      const data = await api("POST", `/api/staff/handoff/${state.current}/${path}`, body);
      for (const m of data.messages || []) appendMessage(m);
      if (doneText) ended(doneText);
      return data;
    } catch (e) { showError(e.message); return null; }
  }

  $("composer").addEventListener("submit", (ev) => { ev.preventDefault(); sendReply($("reply").value); });
  $("reply").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $("composer").requestSubmit(); }
  });
  $("handback").addEventListener("click", () => {
    const intent = $("handback-intent").value || null;
    command("handback", { intent }, intent ? "已交还智能助手，并为居民开始办理所选事项。" : "已交还智能助手。");
  });
  $("transfer").addEventListener("click", async () => {
    const username = $("transfer-user").value.trim();
    if (!username) { showError("请填写同事的用户名。"); return; }
    const data = await command("transfer", { username });
    if (data) { $("transfer-user").value = ""; ended(`已转给 ${data.session.claimed_by_name || username}。`); }
  });
  $("close").addEventListener("click", () => command("close", {}, "会话已结束，已礼貌告知居民。"));

  // ------------------------------------------------------------------ tickets
  const FIELD_NAMES = {
    description: "事项描述", address: "地址", phone: "联系电话", person_name: "姓名", id_number: "身份证号",
    occurred_at: "发生时间", taken_by: "受理人", source: "来源", note: "备注", request: "诉求", facts: "事实经过",
  };
  async function loadTickets() {
    const list = $("tickets");
    $("ticket-detail").hidden = true;
    list.replaceChildren(el("li", "empty", "加载中…"));
    try {
      const data = await api("GET", `/api/staff/handoff/${state.current}/tickets`);
      list.replaceChildren();
      if (!data.tickets.length) { list.appendChild(el("li", "empty", "这位居民还没有工单")); return; }
      for (const t of data.tickets) {
        const li = el("li", "ticket");
        li.dataset.number = t.number;
        const line = el("div", "item-line");
        line.append(el("span", "who", t.number), el("span", "reason", t.status));
        li.append(line, el("div", "preview", `${t.type_name} · ${t.fields.description || ""}`));
        li.addEventListener("click", () => openTicket(t.number));
        list.appendChild(li);
      }
    } catch (e) { list.replaceChildren(el("li", "empty", e.message)); }
  }

  async function openTicket(number) {
    try {
      const t = await api("GET", `/api/staff/tickets/${encodeURIComponent(number)}`);
      state.ticket = t.number;
      const box = $("ticket-summary");
      box.replaceChildren(el("div", "who", `${t.number} · ${t.type_name} · ${t.status}`));
      for (const [k, v] of Object.entries(t.fields || {})) {
        box.appendChild(el("div", "preview", `${FIELD_NAMES[k] || k}：${v}`));
      }
      if (t.department) box.appendChild(el("div", "preview", `承办部门：${t.department}`));
      $("ticket-detail").hidden = false;
    } catch (e) { showError(e.message); }
  }

  $("ticket-update").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const status = $("ticket-status").value, note = $("ticket-note").value.trim();
    if (!status && !note) { showError("请选择新状态或填写备注。"); return; }
    try {
      if (status) await api("POST", `/api/staff/tickets/${encodeURIComponent(state.ticket)}/status`, { status, note });
      else await api("POST", `/api/staff/tickets/${encodeURIComponent(state.ticket)}/notes`, { note });
      $("ticket-note").value = ""; $("ticket-status").value = "";
      await loadTickets();
      await openTicket(state.ticket);
    } catch (e) { showError(e.message); }
  });

  $("ticket-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const result = $("ticket-result");
    result.className = "result"; result.textContent = "正在创建…";
    try {
      const data = await api("POST", `/api/staff/handoff/${state.current}/tickets`, {
        type: $("ticket-type").value, description: $("ticket-description").value,
        address: $("ticket-address").value, phone: $("ticket-phone").value, person_name: $("ticket-name").value,
      });
      result.textContent = data.created ? `已创建工单 ${data.ticket.number}` : `相同内容的工单已存在：${data.ticket.number}`;
      for (const id of ["ticket-description", "ticket-address", "ticket-phone", "ticket-name"]) $(id).value = "";
      loadTickets();
    } catch (e) { result.className = "result bad"; result.textContent = e.message; }
  });

  // ------------------------------------------------------------------ live socket
  let retry = 0;
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws/staff`);
    ws.addEventListener("open", () => { retry = 0; $("link").textContent = "实时连接正常"; $("link").classList.remove("offline"); });
    ws.addEventListener("message", (ev) => {
      let data; try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (data.type === "hello") state.me = data.user;
      else if (data.type === "queue") onQueue(data);
      else if (data.type === "message") onMessage(data);
      else if (data.type === "session") onSession(data);
    });
    ws.addEventListener("close", (ev) => {
      $("link").textContent = "连接已断开，正在重连…"; $("link").classList.add("offline");
      if (ev.code === 4401) { location.href = "/login?next=%2Fstaff"; return; }
      const delay = Math.min(30000, 1000 * 2 ** retry) * (0.75 + Math.random() / 2);
      retry = Math.min(retry + 1, 5);
      setTimeout(connect, delay);
    });
  }

  function onQueue(data) {
    state.offset = Date.parse(data.now) - Date.now();
    state.sessions = data.sessions;
    $("online").textContent = `在线工作人员：${data.staff_online} 人`;
    renderLists();
    const cur = state.current && state.detail && state.detail.session;
    if (cur && cur.status !== "closed") {
      const now = sessionById(state.current);
      if (!now) ended("这个会话已结束（居民返回了智能助手，或由同事处理完毕）。");
      else if (now.status !== cur.status || now.claimed_by !== cur.claimed_by) {
        if (cur.status === "queued" && now.claimed_by !== state.me.username) {
          state.detail.session = now; renderHeader(now); setControls(now);
          banner(`这个会话已由 ${now.claimed_by_name || now.claimed_by} 接入。`);
        }
      }
    }
  }

  function onMessage(m) {
    if (m.from === "staff") return;           // our own replies are shown from the send response
    if (m.session_id === state.current) appendMessage(m);
    else { state.unread.add(m.session_id); renderLists(); }
  }

  function onSession(ev) {
    const texts = {
      resident_left: "居民已返回智能助手，会话已结束。", handed_back: "会话已交还智能助手。", closed: "会话已结束。",
      transferred_out: `会话已转给 ${ev.to || "同事"}。`,
    };
    if (ev.event === "transferred_in") {
      banner(`${ev.from || "同事"} 转给您一个会话（#${ev.session_id}），请在“我的会话”中查看。`);
      return;
    }
    if (ev.session_id === state.current && texts[ev.event]) ended(texts[ev.event]);
  }

  // ------------------------------------------------------------------ start
  async function start() {
    try {
      const cfg = await api("GET", "/api/staff/handoff/config");
      state.config = cfg; state.me = cfg.me;
      $("me").textContent = `${cfg.me.display_name}（${cfg.me.role === "admin" ? "管理员" : "工作人员"}）`;
      $("hours").textContent = `人工服务时间：${cfg.working_hours}${cfg.open_now ? "" : " · 当前为非工作时间"}`;
      for (const text of cfg.quick_replies) {
        const b = el("button", null, text.length > 14 ? text.slice(0, 14) + "…" : text);
        b.type = "button"; b.title = text; b.disabled = true;
        b.addEventListener("click", () => { $("reply").value = text; $("reply").focus(); });
        $("quick").appendChild(b);
      }
      for (const it of cfg.handback_intents) {
        const o = el("option", null, `交还并开始：${it.title}`); o.value = it.intent; $("handback-intent").appendChild(o);
      }
      for (const t of cfg.ticket_types) {
        const o = el("option", null, t.title); o.value = t.type; $("ticket-type").appendChild(o);
      }
    } catch (e) { showError(e.message); return; }
    setControls(null);
    connect();
  }
  start();
})();
