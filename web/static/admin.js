// Admin console for FAQ knowledge: search, edit, publish, history, answer preview, unanswered questions,
// feedback, YAML import/export. Talks to /api/admin/... (admin login required). All text is set with
// textContent (never innerHTML): residents' questions and answers cannot inject markup into the console.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const PAGE = 30;
  const STATUS_ZH = { published: "已发布", draft: "草稿" };
  const REASON_ZH = { low_confidence: "没找到把握的答案", none_of_these: "推荐的问题都不是",
                      not_helpful: "答案没帮助", fallback: "助手没听懂" };
  const FIELD_ZH = { question: "标准问题", similar: "相似问法", answer: "答案", tags: "标签", department: "部门",
                     status: "状态", valid_from: "生效日期", valid_until: "失效日期" };
  const ACTION_ZH = { create: "新建", update: "修改", publish: "发布", unpublish: "下线", delete: "删除",
                      import: "导入", seed: "初始导入" };
  const state = { offset: 0, total: 0, current: null, unanswered: null };

  // ------------------------------------------------------------------ helpers
  const { api, el } = window.BianminConsole;

  function cell(row, text, cls) { const td = el("td", cls, text); row.appendChild(td); return td; }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  let noticeTimer = null;
  function notice(text, bad) {
    const n = $("notice");
    n.textContent = text; n.className = bad ? "notice bad" : "notice"; n.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { n.hidden = true; }, 5000);
  }

  function statusBadge(faq) {
    const today = new Date().toISOString().slice(0, 10);
    const expired = (faq.valid_until && faq.valid_until < today) || (faq.valid_from && faq.valid_from > today);
    const badge = el("span", "badge " + (expired ? "expired" : faq.status), STATUS_ZH[faq.status] || faq.status);
    if (expired) badge.textContent += "（不在有效期）";
    return badge;
  }

  function lines(text) { return text.split("\n").map((s) => s.trim()).filter(Boolean); }
  function tagsOf(text) { return text.split(/[,，、;；\n]/).map((s) => s.trim()).filter(Boolean); }

  // ------------------------------------------------------------------ tabs
  function showTab(name) {
    for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.tab === name);
    for (const p of document.querySelectorAll(".panel")) p.hidden = p.id !== "tab-" + name;
    if (name === "unanswered") loadUnanswered();
    if (name === "feedback") loadFeedback();
  }
  for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => showTab(t.dataset.tab));

  // ------------------------------------------------------------------ FAQ list
  async function loadList() {
    const params = new URLSearchParams({ q: $("q").value.trim(), status: $("status-filter").value,
                                         limit: PAGE, offset: state.offset });
    let data;
    try { data = await api("GET", "/api/admin/faqs?" + params); } catch (e) { notice(e.message, true); return; }
    state.total = data.total;
    $("revision").textContent = `知识库版本 ${data.revision}`;
    const count = $("unanswered-count");
    count.hidden = !data.open_unanswered; count.textContent = data.open_unanswered;
    $("list-summary").textContent = `共 ${data.total} 条`;
    const body = $("faq-rows");
    body.replaceChildren();
    if (!data.items.length) {
      const tr = el("tr"); const td = cell(tr, "没有符合条件的条目", "empty"); td.colSpan = 4; body.appendChild(tr);
    }
    for (const faq of data.items) {
      const tr = el("tr", "selectable" + (state.current && state.current.id === faq.id ? " selected" : ""));
      tr.dataset.id = faq.id;
      const q = cell(tr, faq.question);
      q.appendChild(el("div", "hint", faq.id));
      const st = cell(tr, ""); st.appendChild(statusBadge(faq));
      const tg = cell(tr, ""); for (const t of faq.tags) tg.appendChild(el("span", "tag", t));
      cell(tr, `${when(faq.updated_at)} ${faq.updated_by}`, "hint");
      tr.addEventListener("click", () => openFaq(faq.id));
      body.appendChild(tr);
    }
    $("page-info").textContent = data.total ? `${state.offset + 1}–${Math.min(state.offset + PAGE, data.total)}` : "";
    $("prev-page").disabled = state.offset === 0;
    $("next-page").disabled = state.offset + PAGE >= data.total;
  }

  $("search").addEventListener("submit", (ev) => { ev.preventDefault(); state.offset = 0; loadList(); });
  $("status-filter").addEventListener("change", () => { state.offset = 0; loadList(); });
  $("prev-page").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); loadList(); });
  $("next-page").addEventListener("click", () => { state.offset += PAGE; loadList(); });

  // ------------------------------------------------------------------ editor
  function fillEditor(faq) {
    state.current = faq;
    $("editor-empty").hidden = true;
    $("editor").hidden = false;
    $("editor-error").textContent = "";
    $("history").hidden = true;
    $("feedback-counts").textContent = "";
    $("editor-title").textContent = faq ? `编辑条目 ${faq.id}` : "新建条目";
    $("editor-status").replaceChildren();
    if (faq) $("editor-status").appendChild(statusBadge(faq));
    $("editor-meta").textContent = faq
      ? `第 ${faq.version} 版 · ${when(faq.updated_at)} 由 ${faq.updated_by} 修改 · 创建于 ${when(faq.created_at)}（${faq.created_by}）`
      : "新条目保存后为草稿，发布后助手才会用它回答。";
    $("f-question").value = faq ? faq.question : "";
    $("f-similar").value = faq ? faq.similar.join("\n") : "";
    $("f-answer").value = faq ? faq.answer : "";
    $("f-tags").value = faq ? faq.tags.join("，") : "";
    $("f-department").value = faq ? faq.department : "";
    $("f-valid-from").value = faq && faq.valid_from ? faq.valid_from : "";
    $("f-valid-until").value = faq && faq.valid_until ? faq.valid_until : "";
    $("unpublish").hidden = !faq || faq.status !== "published";
    $("delete").hidden = !faq;
    $("show-history").hidden = !faq;
    $("save-publish").textContent = faq && faq.status === "published" ? "保存（已发布）" : "保存并发布";
    renderAnswer();
    for (const tr of document.querySelectorAll("#faq-rows tr")) tr.classList.toggle("selected", !!faq && tr.dataset.id === faq.id);
  }

  async function openFaq(id) {
    try {
      const data = await api("GET", "/api/admin/faqs/" + encodeURIComponent(id));
      fillEditor(data.faq);
      const fb = data.feedback;
      $("feedback-counts").textContent = `居民反馈：有帮助 ${fb.helpful} 次，没帮助 ${fb.not_helpful} 次`;
    } catch (e) { notice(e.message, true); }
  }

  function formValues() {
    return {
      question: $("f-question").value.trim(),
      similar: lines($("f-similar").value),
      answer: $("f-answer").value.trim(),
      tags: tagsOf($("f-tags").value),
      department: $("f-department").value.trim(),
      valid_from: $("f-valid-from").value || null,
      valid_until: $("f-valid-until").value || null,
    };
  }

  async function save(publish) {
    $("editor-error").textContent = "";
    const values = formValues();
    const current = state.current;
    try {
      let faq;
      if (!current) {
        faq = (await api("POST", "/api/admin/faqs", { ...values, status: publish ? "published" : "draft" })).faq;
      } else {
        faq = (await api("PUT", "/api/admin/faqs/" + encodeURIComponent(current.id), { ...values, version: current.version })).faq;
        if (publish && faq.status !== "published") {
          faq = (await api("POST", `/api/admin/faqs/${encodeURIComponent(faq.id)}/publish`, { version: faq.version })).faq;
        }
      }
      fillEditor(faq);
      notice(publish || faq.status === "published" ? "已保存并发布：助手从下一条消息起使用新内容。" : "已保存为草稿。");
      loadList();
    } catch (e) {
      $("editor-error").textContent = e.message;
    }
  }

  $("editor").addEventListener("submit", (ev) => { ev.preventDefault(); save(false); });
  $("save-publish").addEventListener("click", () => save(true));
  $("new-faq").addEventListener("click", () => { fillEditor(null); $("f-question").focus(); });

  $("unpublish").addEventListener("click", async () => {
    const current = state.current; if (!current) return;
    try {
      const faq = (await api("POST", `/api/admin/faqs/${encodeURIComponent(current.id)}/unpublish`, { version: current.version })).faq;
      fillEditor(faq); notice("已下线：助手不再用这条回答。"); loadList();
    } catch (e) { $("editor-error").textContent = e.message; }
  });

  $("delete").addEventListener("click", async () => {
    const current = state.current; if (!current) return;
    if (!confirm(`确定删除“${current.question}”吗？删除后可在修改记录中查到原内容，但助手不再使用它。`)) return;
    try {
      await api("DELETE", `/api/admin/faqs/${encodeURIComponent(current.id)}?version=${current.version}`);
      state.current = null; $("editor").hidden = true; $("editor-empty").hidden = false;
      notice("已删除。"); loadList();
    } catch (e) { $("editor-error").textContent = e.message; }
  });

  function show(value) {
    if (value === null || value === undefined || value === "") return "（空）";
    if (Array.isArray(value)) return value.length ? value.join("\n") : "（空）";
    return STATUS_ZH[value] || String(value);
  }

  $("show-history").addEventListener("click", async () => {
    const current = state.current; if (!current) return;
    const box = $("history");
    if (!box.hidden) { box.hidden = true; return; }
    try {
      const data = await api("GET", `/api/admin/faqs/${encodeURIComponent(current.id)}/history`);
      box.replaceChildren(el("h3", null, "修改记录"));
      for (const h of data.history) {
        const entry = el("div", "entry");
        entry.appendChild(el("div", "when", `${when(h.at)} · ${h.actor} · ${ACTION_ZH[h.action] || h.action} · 第 ${h.version} 版（知识库版本 ${h.revision}）`));
        const table = el("table");
        for (const [field, change] of Object.entries(h.changes || {})) {
          const tr = el("tr");
          cell(tr, FIELD_ZH[field] || field);
          cell(tr, show(change.old), "old");
          cell(tr, show(change.new), "new");
          table.appendChild(tr);
        }
        entry.appendChild(table);
        box.appendChild(entry);
      }
      box.hidden = false;
    } catch (e) { $("editor-error").textContent = e.message; }
  });

  let renderTimer = null;
  function renderAnswer() {
    clearTimeout(renderTimer);
    renderTimer = setTimeout(async () => {
      try {
        const data = await api("POST", "/api/admin/render", { answer: $("f-answer").value });
        $("rendered").textContent = data.text;
        $("missing").textContent = data.missing.length
          ? "以下占位符在本地设置中没有值，保存时会被拒绝：" + data.missing.map((m) => `{${m}}`).join("、") : "";
      } catch (e) { /* preview only */ }
    }, 300);
  }
  $("f-answer").addEventListener("input", renderAnswer);

  // ------------------------------------------------------------------ preview
  $("preview-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("preview-result");
    const question = $("preview-q").value.trim();
    if (!question) return;
    out.replaceChildren(el("p", "hint", "计算中…"));
    let data;
    try { data = await api("POST", "/api/admin/preview", { question }); }
    catch (e) { out.replaceChildren(el("p", "error", e.message)); return; }
    out.replaceChildren();
    const labels = { answer: "助手会直接回答：", candidates: "把握不够，助手会问“您是不是想问”，并列出：",
                     none: "知识库里没有相近的条目：助手会道歉、记录问题，并建议转人工或拨打12345。" };
    out.appendChild(el("p", "decision " + data.decision, labels[data.decision]));
    if (data.answer) out.appendChild(el("div", "answer-box", data.answer.text));
    const table = el("table", "grid");
    const head = el("tr");
    for (const h of ["条目", "最接近的问法", "置信度", "得分", ""]) head.appendChild(el("th", null, h));
    table.appendChild(el("thead")).appendChild(head);
    const body = el("tbody");
    for (const c of data.candidates) {
      const tr = el("tr", "selectable");
      const q = cell(tr, c.question); q.appendChild(el("div", "hint", c.faq_id));
      cell(tr, c.matched);
      const conf = cell(tr, "");
      const bar = el("span", "bar"); bar.style.width = Math.round(c.confidence * 80) + "px";
      conf.appendChild(bar); conf.appendChild(document.createTextNode(` ${(c.confidence * 100).toFixed(0)}%`));
      cell(tr, c.score.toFixed(2));
      cell(tr, data.offered.includes(c.faq_id) ? "会推荐" : "", "hint");
      tr.addEventListener("click", () => { showTab("faqs"); openFaq(c.faq_id); });
      body.appendChild(tr);
    }
    if (!data.candidates.length) { const tr = el("tr"); const td = cell(tr, "没有候选条目", "empty"); td.colSpan = 5; body.appendChild(tr); }
    table.appendChild(body);
    out.appendChild(table);
    out.appendChild(el("p", "hint",
      `直接回答的置信度门槛 ${(data.threshold * 100).toFixed(0)}%，推荐门槛 ${(data.candidate_floor * 100).toFixed(0)}%；` +
      `知识库版本 ${data.revision}（${data.entries} 条已发布）。分词：${data.analysis.words.join(" / ")}` +
      (data.analysis.unknown_words.length ? `；知识库中没有的词：${data.analysis.unknown_words.join("、")}` : "")));
  });

  // ------------------------------------------------------------------ unanswered questions
  async function loadUnanswered() {
    const params = new URLSearchParams({ status: $("unanswered-status").value, reason: $("unanswered-reason").value });
    let data;
    try { data = await api("GET", "/api/admin/unanswered?" + params); } catch (e) { notice(e.message, true); return; }
    const body = $("unanswered-rows");
    body.replaceChildren();
    if (!data.items.length) { const tr = el("tr"); const td = cell(tr, "暂无", "empty"); td.colSpan = 6; body.appendChild(tr); }
    for (const u of data.items) {
      const tr = el("tr");
      cell(tr, u.question);
      cell(tr, String(u.count));
      cell(tr, REASON_ZH[u.reason] || u.reason);
      cell(tr, u.best_faq_id ? `${u.best_faq_id}${u.best_confidence !== null ? `（${u.best_confidence}%）` : ""}` : "", "hint");
      cell(tr, `${when(u.last_seen)} ${u.last_sender || ""}`, "hint");
      const ops = cell(tr, "");
      if (u.status === "open") {
        const make = el("button", null, "变成知识");
        make.type = "button";
        make.addEventListener("click", () => openFromUnanswered(u));
        const ignore = el("button", "secondary", "忽略");
        ignore.type = "button";
        ignore.addEventListener("click", async () => {
          try { await api("POST", `/api/admin/unanswered/${u.id}/status`, { status: "ignored" }); loadUnanswered(); loadList(); }
          catch (e) { notice(e.message, true); }
        });
        ops.append(make, " ", ignore);
      } else {
        ops.textContent = u.resolved_faq_id ? `→ ${u.resolved_faq_id}` : "";
        const reopen = el("button", "secondary", "重新打开"); reopen.type = "button";
        reopen.addEventListener("click", async () => {
          try { await api("POST", `/api/admin/unanswered/${u.id}/status`, { status: "open" }); loadUnanswered(); }
          catch (e) { notice(e.message, true); }
        });
        ops.append(" ", reopen);
      }
      body.appendChild(tr);
    }
  }
  $("unanswered-status").addEventListener("change", loadUnanswered);
  $("unanswered-reason").addEventListener("change", loadUnanswered);
  $("reload-unanswered").addEventListener("click", loadUnanswered);

  function fuMode() { return document.querySelector("input[name=fu-mode]:checked").value; }
  function syncFuMode() { $("fu-new").hidden = fuMode() !== "new"; $("fu-similar").hidden = fuMode() !== "similar"; }
  for (const r of document.querySelectorAll("input[name=fu-mode]")) r.addEventListener("change", syncFuMode);

  async function openFromUnanswered(u) {
    state.unanswered = u;
    $("fu-question").textContent = u.question;
    $("fu-q").value = u.question;
    $("fu-answer").value = ""; $("fu-tags").value = ""; $("fu-department").value = "";
    $("fu-target").value = u.best_faq_id || "";
    $("fu-error").textContent = "";
    document.querySelector(`input[name=fu-mode][value=${u.best_faq_id && u.reason !== "not_helpful" ? "similar" : "new"}]`).checked = true;
    syncFuMode();
    const list = $("fu-targets"); list.replaceChildren();
    try {
      const data = await api("POST", "/api/admin/preview", { question: u.question });
      for (const c of data.candidates) { const o = el("option", null, c.question); o.value = c.faq_id; list.appendChild(o); }
    } catch (e) { /* suggestions only */ }
    $("from-unanswered").showModal();
  }

  $("fu-cancel").addEventListener("click", () => $("from-unanswered").close());
  $("fu-submit").addEventListener("click", async () => {
    const u = state.unanswered; if (!u) return;
    const body = fuMode() === "new"
      ? { mode: "new", faq: { question: $("fu-q").value.trim(), answer: $("fu-answer").value.trim(),
                              tags: tagsOf($("fu-tags").value), department: $("fu-department").value.trim(),
                              status: $("fu-publish").checked ? "published" : "draft" } }
      : { mode: "similar", target_id: $("fu-target").value.trim() };
    try {
      const data = await api("POST", `/api/admin/unanswered/${u.id}/faq`, body);
      $("from-unanswered").close();
      notice(body.mode === "new" ? `已新建条目 ${data.faq.id}，这条问题已标记为已解决。`
                                 : `已把问题加为 ${data.faq.id} 的相似问法，这条问题已标记为已解决。`);
      loadUnanswered(); loadList();
    } catch (e) { $("fu-error").textContent = e.message; }
  });

  // ------------------------------------------------------------------ feedback
  async function loadFeedback() {
    let data;
    try { data = await api("GET", "/api/admin/feedback"); } catch (e) { notice(e.message, true); return; }
    const body = $("feedback-rows");
    body.replaceChildren();
    if (!data.items.length) { const tr = el("tr"); const td = cell(tr, "暂无反馈", "empty"); td.colSpan = 4; body.appendChild(tr); }
    for (const f of data.items) {
      const tr = el("tr", "selectable");
      const q = cell(tr, f.question); q.appendChild(el("div", "hint", f.faq_id));
      cell(tr, String(f.helpful));
      cell(tr, String(f.not_helpful));
      cell(tr, f.recent_unhelpful_questions.join("\n"), "hint");
      tr.addEventListener("click", () => { showTab("faqs"); openFaq(f.faq_id); });
      body.appendChild(tr);
    }
  }

  // ------------------------------------------------------------------ import
  $("import-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = $("import-file").files[0];
    if (!file) { $("import-result").textContent = "请先选择文件。"; return; }
    const form = new FormData(); form.append("file", file);
    $("import-result").textContent = "导入中…";
    try {
      const data = await api("POST", "/api/admin/import", undefined, form);
      $("import-result").textContent = `导入完成：新建 ${data.created} 条，更新 ${data.updated} 条，未变 ${data.unchanged} 条。`;
      loadList();
    } catch (e) { $("import-result").textContent = e.message; }
  });

  // ------------------------------------------------------------------ start
  api("GET", "/api/me").then((me) => { $("me").textContent = me.display_name || me.username; }).catch(() => {});
  loadList();
})();
