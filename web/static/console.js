// Helpers shared by the staff and admin consoles (loaded before staff.js / admin.js): JSON calls to the
// authenticated APIs (a 401 sends the user to the login page and back) and text-only element building.
window.BianminConsole = (function () {
  "use strict";

  /** Calls a JSON API; `raw` sends a prepared body (e.g. a YAML file) instead of JSON. Throws Error(data.error). */
  async function api(method, path, body, raw) {
    const opts = { method, credentials: "same-origin", headers: {} };
    if (raw) opts.body = raw;
    else if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const resp = await fetch(path, opts);
    if (resp.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname);
      throw new Error("请先登录。");
    }
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) { const err = new Error(data.error || `操作失败（${resp.status}）`); err.status = resp.status; throw err; }
    return data;
  }

  /** An element whose text is set with textContent, never innerHTML. */
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  return { api, el };
})();
