/*
 * Voxsig SDK: what a website loads (the snippet of a web widget inbox) to get a chat bubble.
 *
 *   window.voxsigSDK.run({websiteToken: "…", baseUrl: "https://voxsig.example"})
 *   window.$voxsig.toggle([open]) | setUser(identifier, {name, email, avatar_url, phone_number,
 *     identifier_hash}) | setLocale(locale) | setCustomAttributes({…}) | reset()
 *   window.addEventListener("voxsig:ready", …)   and "voxsig:error" (event.detail.message)
 *
 * Chatwoot's names work too, so a page with Chatwoot's snippet needs no change:
 * window.chatwootSettings (locale, position, type, launcherTitle, hideMessageBubble, darkMode,
 * read when run() is called), window.chatwootSDK.run, window.$chatwoot (the same object as
 * $voxsig, with Chatwoot's methods as well), and every event also fires as chatwoot:<name>
 * (ready, error, on-message, opened, closed).
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
    ".bubble.wide{width:auto;height:48px;border-radius:24px;padding:0 20px 0 16px;gap:8px;" +
    "font:600 15px/1 system-ui,sans-serif}.bubble.open .label{display:none}" +
    ".left{left:20px;right:auto}.box.bare{bottom:20px}" +
    "@media (max-width:480px){.box{right:0;bottom:0;width:100vw;height:100%;border-radius:0}" +
    ".box.left{left:0}}";
  var ICONS =
    '<svg class="chat" viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 ' +
    '2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg><svg class="x" viewBox="0 0 24 24" ' +
    'aria-hidden="true"><path d="M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 ' +
    '9.2 12 2.9 5.7 4.3 4.3l6.3 6.3 6.3-6.3z"/></svg>';

  function fire(name, detail) {
    ["voxsig:", "chatwoot:"].forEach(function (prefix) {
      w.dispatchEvent(new CustomEvent(prefix + name, { detail: detail || {} }));
    });
  }

  function run(options) {
    if (w.$voxsig) return w.$voxsig; // one widget per page
    var base = String(options.baseUrl || "").replace(/\/+$/, "");
    var websiteToken = String(options.websiteToken || "");
    var origin = new URL(base + "/", location.href).origin;
    var key = "voxsig.token." + websiteToken;
    var settings = w.chatwootSettings || {};
    var locale = String(options.locale || settings.locale || navigator.language || "en");
    var darkMode = settings.darkMode === "auto" ? "auto" : "light";
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
    if (settings.position === "left") {
      box.classList.add("left");
      bubble.classList.add("left");
    }
    if (settings.type === "expanded_bubble") {
      var label = d.createElement("span");
      label.className = "label";
      label.textContent = String(settings.launcherTitle || "Chat with us");
      bubble.classList.add("wide");
      bubble.insertBefore(label, badge);
    }
    bubbleVisible(!settings.hideMessageBubble);

    function bubbleVisible(visible) {
      bubble.hidden = !visible;
      box.classList.toggle("bare", !visible); // no bubble: the box takes its place
    }

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
      // true / false (Voxsig), "open" / "close" (Chatwoot), or nothing: the other state
      var next = state === true || state === "open" ? true : state === false || state === "close" ? false : !open;
      if (next === open) return;
      open = api.isOpen = next;
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
      fire(open ? "opened" : "closed");
    }

    var handlers = {
      loaded: function () {
        post({
          type: "init", authToken: stored(), locale: locale, referer: location.href, darkMode: darkMode
        });
      },
      auth: function (m) {
        stored(String(m.token || ""));
      },
      ready: function (m) {
        if (m.color) host.style.setProperty("--voxsig-color", m.color);
        ready = api.hasLoaded = true;
        queue.splice(0).forEach(post);
        if (!announced) {
          announced = true; // once per page, not again after reset(), as Chatwoot's
          fire("ready");
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
        fire("error", { message: String(m.message || "") });
      },
      message: function (m) {
        fire("on-message", m.message);
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

    // A command for the iframe with one value; Chatwoot's SDK throws `required` when it is missing.
    function command(type, required) {
      return function (value) {
        var empty = value === undefined || value === null || value === "" ||
          (typeof value === "object" && !Object.keys(value).length);
        if (empty && required) throw new Error(required);
        if (!empty) send({ type: type, value: value });
      };
    }

    var api = {
      hasLoaded: false,
      isOpen: false,
      toggle: toggle,
      toggleBubbleVisibility: function (visibility) {
        if (visibility === "hide" || visibility === "show") bubbleVisible(visibility === "show");
      },
      popoutChatWindow: function () {
        // The same visitor in a window of its own; the token rides in the fragment, which no
        // request carries (not even as a Referer).
        toggle(false);
        var popout = w.open(
          base + "/widget?website_token=" + encodeURIComponent(websiteToken) + "#" +
            new URLSearchParams({ auth_token: stored(), locale: locale }),
          "webwidget_session_" + websiteToken,
          "resizable=off,width=400,height=600"
        );
        if (popout) popout.focus();
      },
      setUser: function (identifier, user) {
        if (typeof identifier !== "string" && typeof identifier !== "number") {
          throw new Error("Identifier should be a string or a number");
        }
        var u = user || {};
        var fields = {};
        ["name", "email", "avatar_url", "phone_number", "identifier_hash"].forEach(function (k) {
          if (u[k] !== undefined && u[k] !== null) fields[k] = String(u[k]);
        });
        if (u.custom_attributes && typeof u.custom_attributes === "object") {
          fields.custom_attributes = u.custom_attributes;
        }
        send({ type: "setUser", identifier: String(identifier), user: fields });
      },
      setLocale: function (value) {
        locale = String(value || "en");
        send({ type: "setLocale", locale: locale });
      },
      setCustomAttributes: function (attributes) {
        send({ type: "setCustomAttributes", attributes: attributes || {} });
      },
      deleteCustomAttribute: command("deleteCustomAttribute", "Custom attribute is required"),
      setConversationCustomAttributes: command(
        "setConversationCustomAttributes", "Custom attributes should have atleast one key"
      ),
      deleteConversationCustomAttribute: command(
        "deleteConversationCustomAttribute", "Custom attribute is required"
      ),
      setLabel: command("setLabel"),
      removeLabel: command("removeLabel"),
      reset: function () {
        stored("");
        toggle(false);
        load(); // a new iframe without a token: a new visitor
      }
    };
    w.$voxsig = w.$chatwoot = api;

    function mount() {
      d.body.appendChild(host);
      load();
    }
    if (d.body) mount();
    else d.addEventListener("DOMContentLoaded", mount);
    return w.$voxsig;
  }

  w.voxsigSDK = w.chatwootSDK = { run: run };
})(window, document);
