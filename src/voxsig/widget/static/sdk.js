/*
 * Voxsig SDK: what a website loads (the snippet of a web widget inbox) to get a chat bubble.
 *
 *   window.voxsigSDK.run({websiteToken: "…", baseUrl: "https://voxsig.example"})
 *   window.$voxsig.toggle([open]) | setUser(identifier, {name, email, avatar_url, phone_number,
 *     identifier_hash}) | setLocale(locale) | setCustomAttributes({…}) | reset()
 *   window.addEventListener("voxsig:ready", …)   and "voxsig:error" (event.detail.message)
 *
 * The chat itself lives in an iframe served by Voxsig, which makes every API call (same origin
 * as the API, so no CORS). The bubble and the iframe's box sit in a shadow root with their own
 * styles: the host page's CSS does not reach them and theirs does not leak out. The visitor
 * token is kept here, in the host page's localStorage, so a visitor stays themselves from page
 * to page; the iframe gets it through postMessage, checked against the iframe's origin.
 */
(function (w, d) {
  "use strict";
  if (w.voxsigSDK) return;

  var CSS =
    ":host{all:initial}[hidden]{display:none!important}" +
    ".bubble{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:60px;height:60px;" +
    "border:0;border-radius:50%;padding:0;margin:0;background:var(--voxsig-color,#1f93ff);color:#fff;" +
    "cursor:pointer;display:flex;align-items:center;justify-content:center;" +
    "box-shadow:0 4px 16px rgba(0,0,0,.22);transition:transform .15s}" +
    ".bubble:hover{transform:scale(1.06)}.bubble:focus-visible{outline:3px solid #000}" +
    ".bubble svg{width:28px;height:28px;fill:currentColor}" +
    ".bubble .x,.bubble.open .chat{display:none}.bubble.open .x{display:block}" +
    ".badge{position:absolute;top:-3px;right:-3px;min-width:20px;height:20px;padding:0 6px;" +
    "box-sizing:border-box;border-radius:10px;background:#e5484d;color:#fff;" +
    "font:600 12px/20px system-ui,sans-serif}" +
    ".box{position:fixed;right:20px;bottom:96px;z-index:2147483001;width:380px;" +
    "height:min(640px,calc(100vh - 120px));border-radius:16px;overflow:hidden;background:#fff;" +
    "box-shadow:0 10px 40px rgba(0,0,0,.2);visibility:hidden;opacity:0;" +
    "transform:translateY(12px);transition:opacity .2s,transform .2s,visibility 0s .2s}" +
    ".box.open{visibility:visible;opacity:1;transform:none;transition:opacity .2s,transform .2s}" +
    "iframe{display:block;width:100%;height:100%;border:0}" +
    "@media (max-width:480px){.box{right:0;bottom:0;width:100vw;height:100%;border-radius:0}}";
  var ICONS =
    '<svg class="chat" viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 ' +
    '2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg><svg class="x" viewBox="0 0 24 24" ' +
    'aria-hidden="true"><path d="M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 ' +
    '9.2 12 2.9 5.7 4.3 4.3l6.3 6.3 6.3-6.3z"/></svg>';

  function fire(name, detail) {
    w.dispatchEvent(new CustomEvent(name, { detail: detail || {} }));
  }

  function run(options) {
    if (w.$voxsig) return w.$voxsig; // one widget per page
    var base = String(options.baseUrl || "").replace(/\/+$/, "");
    var websiteToken = String(options.websiteToken || "");
    var origin = new URL(base + "/", location.href).origin;
    var key = "voxsig.token." + websiteToken;
    var locale = String(options.locale || navigator.language || "en");
    var open = false, ready = false, announced = false, queue = [], iframe = null;

    var host = d.createElement("voxsig-widget");
    var root = host.attachShadow({ mode: "open" });
    root.innerHTML =
      "<style>" + CSS + '</style><div class="box"></div><button class="bubble" type="button" ' +
      'aria-label="Open chat" aria-expanded="false">' + ICONS + '<span class="badge" hidden>' +
      "</span></button>";
    var box = root.querySelector(".box");
    var bubble = root.querySelector(".bubble");
    var badge = root.querySelector(".badge");

    function stored(value) {
      try {
        if (value === undefined) return w.localStorage.getItem(key) || "";
        if (value) w.localStorage.setItem(key, value);
        else w.localStorage.removeItem(key);
      } catch (e) {
        return ""; // storage blocked: the visitor is new on every page
      }
      return value;
    }

    function post(message) {
      message.voxsig = true;
      iframe.contentWindow.postMessage(message, origin);
    }

    function send(message) {
      if (ready) post(message);
      else queue.push(message);
    }

    function load() {
      ready = false;
      queue = [];
      iframe = d.createElement("iframe");
      iframe.title = "Chat";
      iframe.src = base + "/widget?website_token=" + encodeURIComponent(websiteToken);
      box.replaceChildren(iframe);
    }

    function toggle(state) {
      var next = typeof state === "boolean" ? state : !open;
      if (next === open) return;
      open = next;
      box.classList.toggle("open", open);
      bubble.classList.toggle("open", open);
      bubble.setAttribute("aria-expanded", String(open));
      bubble.setAttribute("aria-label", open ? "Close chat" : "Open chat");
      if (open) badge.hidden = true;
      send({
        type: open ? "open" : "close",
        referer: location.href,
        timestamp: new Date().toString()
      });
    }

    var handlers = {
      loaded: function () {
        post({ type: "init", authToken: stored(), locale: locale, referer: location.href });
      },
      auth: function (m) {
        stored(String(m.token || ""));
      },
      ready: function (m) {
        if (m.color) host.style.setProperty("--voxsig-color", m.color);
        ready = true;
        queue.splice(0).forEach(post);
        if (!announced) {
          announced = true;
          fire("voxsig:ready");
        }
      },
      close: function () {
        toggle(false);
      },
      unread: function (m) {
        badge.textContent = String(m.count);
        badge.hidden = open || !m.count;
      },
      error: function (m) {
        fire("voxsig:error", { message: String(m.message || "") });
      }
    };

    w.addEventListener("message", function (event) {
      var m = event.data;
      if (!iframe || event.source !== iframe.contentWindow || event.origin !== origin) return;
      if (m && m.voxsig && Object.prototype.hasOwnProperty.call(handlers, m.type)) {
        handlers[m.type](m);
      }
    });
    bubble.addEventListener("click", function () {
      toggle();
    });

    w.$voxsig = {
      toggle: toggle,
      setUser: function (identifier, user) {
        var u = user || {};
        var fields = {};
        ["name", "email", "avatar_url", "phone_number", "identifier_hash"].forEach(function (k) {
          if (u[k] !== undefined && u[k] !== null) fields[k] = String(u[k]);
        });
        send({ type: "setUser", identifier: String(identifier), user: fields });
      },
      setLocale: function (value) {
        locale = String(value);
        send({ type: "setLocale", locale: locale });
      },
      setCustomAttributes: function (attributes) {
        send({ type: "setCustomAttributes", attributes: attributes || {} });
      },
      reset: function () {
        stored("");
        toggle(false);
        load(); // a new iframe without a token: a new visitor
      }
    };

    function mount() {
      d.body.appendChild(host);
      load();
    }
    if (d.body) mount();
    else d.addEventListener("DOMContentLoaded", mount);
    return w.$voxsig;
  }

  w.voxsigSDK = { run: run };
})(window, document);
