// Resident chat page: WeChat-style bubbles, quick-reply buttons, typing indicator, stable sender id.
// Everything is rendered with textContent (never innerHTML), so message text cannot inject markup.
(function () {
  "use strict";
  const SENDER_KEY = "bianmin.sender";
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("input");
  const sendBtn = document.getElementById("send");
  const notice = document.getElementById("notice");

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  // Same shape the server accepts (channels/webchat.py SENDER_RE): the id is the conversation's only secret.
  const SENDER_RE = /^web-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  let sender = localStorage.getItem(SENDER_KEY);
  if (!sender || !SENDER_RE.test(sender)) {
    sender = "web-" + uuid4();
    localStorage.setItem(SENDER_KEY, sender);
  }
  window.bianminSender = sender;

  function scroll() { log.scrollTop = log.scrollHeight; }

  function row(kind, text, tag) {
    const r = document.createElement("div");
    r.className = `row ${kind}`;
    const av = document.createElement("div");
    av.className = "avatar";
    av.textContent = kind === "user" ? "我" : kind === "staff" ? "人工" : "便民";
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    if (tag) {
      const t = document.createElement("span");
      t.className = "sender-tag"; t.textContent = tag; bubble.appendChild(t);
    }
    bubble.appendChild(document.createTextNode(text));
    r.append(av, bubble);
    log.appendChild(r);
    return r;
  }

  function buttons(list, active) {
    if (!list || !list.length) return;
    const wrap = document.createElement("div");
    wrap.className = "buttons";
    for (const b of list) {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.disabled = !active;
      btn.addEventListener("click", () => {
        for (const other of wrap.querySelectorAll("button")) other.disabled = true;
        send(b.payload, b.title);
      });
      wrap.appendChild(btn);
    }
    log.appendChild(wrap);
  }

  function system(text) {
    const d = document.createElement("div");
    d.className = "system";
    const s = document.createElement("span");
    s.textContent = text; d.appendChild(s); log.appendChild(d); scroll();
  }

  function render(msg, active) {
    if (msg.from === "user") row("user", msg.text);
    else if (msg.from === "system") system(msg.text);
    else if (msg.from === "staff") row("staff", msg.text || "", msg.staff_name ? `工作人员 ${msg.staff_name}` : "工作人员");
    else {
      if (msg.text) row("bot", msg.text);
      buttons(msg.buttons, active);
    }
    scroll();
  }

  let typingRow = null;
  function typing(on) {
    if (on && !typingRow) {
      typingRow = document.createElement("div");
      typingRow.className = "row bot typing";
      typingRow.innerHTML = '<div class="avatar">便民</div><div class="bubble"><span class="dot"></span><span class="dot"></span><span class="dot"></span></div>';
      log.appendChild(typingRow); scroll();
    } else if (!on && typingRow) { typingRow.remove(); typingRow = null; }
  }

  function showNotice(text) {
    notice.textContent = text; notice.hidden = !text;
  }

  // Messages are sent one after another: one typed while a reply is pending waits its turn (never dropped).
  let queue = Promise.resolve();
  let pending = 0;
  function send(message, display) {
    if (display !== null) row("user", display || message);
    for (const b of log.querySelectorAll(".buttons button")) b.disabled = true;
    scroll();
    pending += 1;
    queue = queue.then(() => post(message, display)).finally(() => { pending -= 1; });
    return queue;
  }

  async function post(message, display) {
    showNotice("");
    typing(true);
    try {
      const resp = await fetch("/api/chat", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender, message, display: display || undefined }),
      });
      const data = await resp.json().catch(() => ({}));
      typing(false);
      if (!resp.ok) { showNotice(data.error || "网络开小差了，请稍后再试。"); return; }
      for (const m of data.messages || []) {
        render({ from: m.from || (m.custom && m.custom.from === "staff" ? "staff" : "bot"), text: m.text,
                 buttons: m.buttons, staff_name: m.staff_name }, true);
      }
      if (data.handoff) setMode(data.handoff);
    } catch (e) {
      typing(false);
      showNotice("网络连接失败，请检查网络后重试。");
    } finally {
      if (pending <= 1) typing(false);
      scroll();
    }
  }
  window.bianminSend = send;
  window.bianminRender = render;

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (!text.trim()) { showNotice("请输入内容后再发送。"); return; }
    input.value = "";
    send(text, text);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); form.requestSubmit(); }
  });

  async function restore(again) {
    try {
      const resp = await fetch(`/api/chat/history?sender=${encodeURIComponent(sender)}`);
      const data = await resp.json();
      const msgs = (resp.ok && data.messages) || [];
      if (again && !resp.ok) return;
      if (again) log.replaceChildren();
      msgs.forEach((m, i) => render(m, i === msgs.length - 1));
      if (!msgs.length && !again) await send("/greet", null);
    } catch (e) {
      if (!again) showNotice("暂时无法连接助手，请稍后刷新页面。");
    }
    if (!again) document.dispatchEvent(new CustomEvent("bianmin:ready"));
  }

  // ---- a person answering (hotline handoff): header + live messages over /ws/chat, reconnecting with backoff
  const topbar = document.querySelector(".topbar");
  const who = document.getElementById("who");
  function setMode(state) {
    topbar.classList.toggle("human", state.status === "active");
    topbar.classList.toggle("queued", state.status === "queued");
    who.textContent = state.status === "active" ? `人工客服 ${state.staff_name || ""} 正在为您服务`
      : state.status === "queued" ? "正在为您转接人工客服，请稍候…" : "智能助手为您服务";
    document.body.dataset.mode = state.status || "none";
  }
  window.bianminSetMode = setMode;

  let socket = null, retry = 0, connectedOnce = false;
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${proto}//${location.host}/ws/chat?sender=${encodeURIComponent(sender)}`);
    socket.addEventListener("open", () => {
      retry = 0;
      if (connectedOnce) restore(true);   // anything said while we were away is in the transcript
      connectedOnce = true;
    });
    socket.addEventListener("message", (ev) => {
      let data; try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (data.type === "state") setMode(data);
      else if (data.type === "message") { typing(false); render(data, true); }
    });
    socket.addEventListener("close", () => {
      const delay = Math.min(30000, 1000 * 2 ** retry) * (0.75 + Math.random() / 2);
      retry = Math.min(retry + 1, 5);
      setTimeout(connect, delay);
    });
  }

  restore().then(() => { if ("WebSocket" in window) connect(); });
})();
