// Voxsig dashboard: what tells an agent that a customer is waiting. On every page of a
// logged-in agent ([data-notify]): the unread count in the tab's title, its icon and the badge
// on Conversations; a notice in the corner (a link to the conversation) when a customer starts
// a conversation in Mine or Unassigned, or writes in one assigned to me, unless I am looking at
// it; a beep and browser notifications if the user turned them on (Profile).
//
// It listens to app.js's "voxsig:signal" and "voxsig:reconnected" events (one stream a page)
// and asks /app/notifications/... what a signal means for this agent (dashboard/notifications.py).
(function () {
  "use strict";
  var body = document.body;
  if (!body.hasAttribute("data-notify") || !window.fetch) return;

  var settings = {
    browser: body.getAttribute("data-notify-browser") === "on",
    sound: body.getAttribute("data-notify-sound") === "on"
  };
  var openId = body.getAttribute("data-open-conversation"); // the conversation shown (row id)
  var unread = 0;
  var applied = 0; // the sequence number of the answer the count comes from
  var asked = 0;

  // The conversation on screen is not counted: the page marks it read as it refreshes.
  function viewingQuery() {
    return openId && !document.hidden ? "?viewing=" + encodeURIComponent(openId) : "";
  }

  function getJSON(path) {
    return fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .catch(function () { return null; });
  }

  function shown(n) { return n > 99 ? "99+" : String(n); }

  // -- the count: title, icon, badge ---------------------------------------------------------

  var baseTitle = document.title;
  var titleSet = null;
  function showTitle() {
    if (document.title !== titleSet) baseTitle = document.title; // the page's own, new title
    titleSet = unread ? "(" + shown(unread) + ") " + baseTitle : baseTitle;
    if (document.title !== titleSet) document.title = titleSet;
  }
  // Live refreshes (app.js) set the title again: the count goes back in front of it.
  new MutationObserver(showTitle).observe(document.head, {
    childList: true, subtree: true, characterData: true
  });

  var icon = document.querySelector('link[rel="icon"]');
  var plainIcon = icon ? icon.getAttribute("href") : null;
  var iconSource = null;
  function showIcon() {
    if (!icon) return;
    if (!unread) {
      if (icon.getAttribute("href") !== plainIcon) icon.setAttribute("href", plainIcon);
      return;
    }
    // The icon itself, with a red dot and the count drawn over its corner.
    iconSource = iconSource || fetch(plainIcon, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .catch(function () { return null; });
    iconSource.then(function (svg) {
      if (!svg || !unread) return;
      var text = unread > 9 ? "9+" : String(unread);
      var dot = '<circle cx="23" cy="9" r="9" fill="#d93025" stroke="#fff" stroke-width="1.5"/>' +
        '<text x="23" y="13" text-anchor="middle" font-family="Arial,Helvetica,sans-serif" ' +
        'font-size="' + (text.length > 1 ? 10 : 13) + '" font-weight="700" fill="#fff">' +
        text + "</text>";
      icon.setAttribute("href", "data:image/svg+xml," +
        encodeURIComponent(svg.replace(/<\/svg>\s*$/, dot + "</svg>")));
    });
  }

  var badge = document.querySelector("[data-unread-badge]");
  function showBadge() {
    if (!badge) return;
    badge.hidden = !unread;
    badge.querySelector("[data-unread-count]").textContent = shown(unread);
  }

  function setCount(n, seq) {
    if (typeof n !== "number" || seq < applied) return; // an older answer came in late
    applied = seq;
    unread = n;
    body.setAttribute("data-unread", String(n));
    showTitle();
    showIcon();
    showBadge();
  }

  function refreshState() {
    var seq = ++asked;
    getJSON("/app/notifications/state" + viewingQuery()).then(function (state) {
      if (!state) return;
      settings.browser = state.browser === true;
      settings.sound = state.sound === true;
      setCount(state.unread, seq);
    });
  }

  // -- notices -------------------------------------------------------------------------------

  var region = document.querySelector("[data-notices]");
  var SHOW_MS = 8000;
  var MAX_NOTICES = 3;

  function notice(conv, arrival) {
    if (!region) return;
    var item = document.createElement("div");
    item.className = "notice" + (arrival ? " notice-new" : "");
    var link = document.createElement("a");
    link.href = conv.url;
    link.className = "notice-link";
    var head = document.createElement("strong");
    head.textContent = arrival ? "New conversation from " + conv.name : conv.name + " wrote";
    var num = document.createElement("span");
    num.className = "num";
    num.textContent = " #" + conv.display_id;
    head.appendChild(num);
    link.appendChild(head);
    if (conv.last_incoming && conv.last_incoming.excerpt) {
      var text = document.createElement("span");
      text.className = "notice-text";
      text.textContent = conv.last_incoming.excerpt;
      link.appendChild(text);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "notice-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    item.appendChild(link);
    item.appendChild(close);

    var timer = null;
    var remove = function () { clearTimeout(timer); if (item.parentNode) item.remove(); };
    var later = function () { clearTimeout(timer); timer = setTimeout(remove, SHOW_MS); };
    close.addEventListener("click", remove);
    // Kept while the pointer or the keyboard is on it (time enough to read it).
    item.addEventListener("mouseenter", function () { clearTimeout(timer); });
    item.addEventListener("mouseleave", later);
    item.addEventListener("focusin", function () { clearTimeout(timer); });
    item.addEventListener("focusout", later);
    region.appendChild(item);
    while (region.children.length > MAX_NOTICES) region.firstElementChild.remove();
    later();
  }

  // A beep made on the spot (WebAudio), no sound file. Browsers start audio only after the
  // user did something on the page, so the context is made (or resumed) on the first gesture.
  var audio = null;
  function audioContext() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) {
      try { audio = new Context(); } catch (e) { audio = null; }
    }
    if (audio && audio.state === "suspended" && audio.resume) {
      var resumed = audio.resume();
      if (resumed && resumed.catch) resumed.catch(function () {});
    }
    return audio;
  }
  function unlockAudio() {
    if (settings.sound) audioContext();
    document.removeEventListener("pointerdown", unlockAudio);
    document.removeEventListener("keydown", unlockAudio);
  }
  document.addEventListener("pointerdown", unlockAudio);
  document.addEventListener("keydown", unlockAudio);

  function beep() {
    var context = audioContext();
    if (!context) return;
    try {
      var t = context.currentTime;
      var tone = context.createOscillator();
      var gain = context.createGain();
      tone.type = "sine";
      tone.frequency.setValueAtTime(880, t);
      tone.frequency.setValueAtTime(660, t + 0.12);
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.3);
      tone.connect(gain);
      gain.connect(context.destination);
      tone.start(t);
      tone.stop(t + 0.32);
    } catch (e) { /* no audio here: the notice is enough */ }
  }

  function canNotify() {
    return "Notification" in window && window.Notification.permission === "granted";
  }

  function systemNotification(conv, arrival) {
    if (!settings.browser || !canNotify()) return;
    try {
      var note = new window.Notification(
        arrival ? "New conversation from " + conv.name : conv.name + " wrote",
        {
          body: conv.last_incoming ? conv.last_incoming.excerpt : "",
          tag: "voxsig-conversation-" + conv.id, // a newer one replaces it
          renotify: true,
          icon: plainIcon || undefined
        }
      );
      note.onclick = function () {
        window.focus();
        note.close();
        window.location.href = conv.url;
      };
    } catch (e) { /* e.g. Android Chrome, which shows them from service workers only */ }
  }

  // One beep and one system notification for all of this browser's Voxsig tabs: the first
  // tab to claim a message does it (a Web Lock keeps two tabs from claiming at once).
  var CLAIMS = "voxsig.notified";
  function claimed(id) {
    var list = [];
    try {
      list = JSON.parse(window.localStorage.getItem(CLAIMS) || "[]");
      if (!Array.isArray(list)) list = [];
      if (list.indexOf(id) >= 0) return false;
      list.push(id);
      window.localStorage.setItem(CLAIMS, JSON.stringify(list.slice(-50)));
    } catch (e) { /* no storage: every tab speaks for itself */ }
    return true;
  }
  function once(id, action) {
    var run = function () { if (claimed(id)) action(); };
    if (navigator.locks && navigator.locks.request) {
      navigator.locks.request(CLAIMS, run).catch(function () {});
    } else {
      run();
    }
  }

  // The conversation a visible tab shows, for the other tabs: no beep or system notification
  // for what the agent is reading in another tab or window.
  var VIEWING = "voxsig.viewing";
  function shareViewing(leaving) {
    try {
      if (openId && !document.hidden && !leaving) window.localStorage.setItem(VIEWING, openId);
      else if (openId && window.localStorage.getItem(VIEWING) === openId) {
        window.localStorage.removeItem(VIEWING);
      }
    } catch (e) { /* no storage */ }
  }
  function viewedElsewhere(id) {
    try { return window.localStorage.getItem(VIEWING) === String(id); } catch (e) { return false; }
  }
  shareViewing(false);
  document.addEventListener("visibilitychange", function () { shareViewing(false); });
  window.addEventListener("pagehide", function () { shareViewing(true); });

  var notified = {}; // incoming message ids this page has told about

  // One conversation's answer, with the signals of it this batch saw.
  function consider(conv, seen) {
    var last = conv.last_incoming;
    if (!last || notified[last.id] || conv.status !== "open") return;
    var since = seen.messages.length ? Math.min.apply(null, seen.messages) : Infinity;
    // New: created now, or its first customer message is among the new ones.
    var arrival = (seen.created || conv.first_incoming_id >= since) &&
      (conv.mine || conv.unassigned);
    // A customer message at least as new as this batch's, in a conversation of mine (never
    // my own replies or notes: those are not incoming).
    var reply = last.id >= since && conv.mine;
    if (!arrival && !reply) return;
    notified[last.id] = true;
    var here = openId !== null && String(conv.id) === openId;
    if (here && !document.hidden) return; // the agent is looking at it
    notice(conv, arrival);
    once(last.id, function () {
      if (!here && viewedElsewhere(conv.id)) return; // another tab shows it
      if (settings.sound) beep();
      systemNotification(conv, arrival);
    });
  }

  // Signals come in bursts (a new chat is conversation.created and message.created): they are
  // gathered for a moment, then each conversation is asked about once.
  var batch = {};
  var batchTimer = null;
  var MAX_ASKED = 10; // a flood of conversations: the rest only update the count

  function flush() {
    var current = batch;
    batch = {};
    batchTimer = null;
    var ids = Object.keys(current);
    if (ids.length > MAX_ASKED) { ids = ids.slice(0, MAX_ASKED); refreshState(); }
    ids.forEach(function (id) {
      var seq = ++asked;
      var path = "/app/notifications/conversations/" + encodeURIComponent(id) + viewingQuery();
      getJSON(path).then(function (conv) {
        if (!conv) { refreshState(); return; } // gone meanwhile: the count still changed
        setCount(conv.unread, seq);
        consider(conv, current[id]);
      });
    });
  }

  document.addEventListener("voxsig:signal", function (event) {
    var signal = event.detail || {};
    if (!signal.conversation_id) return;
    var seen = batch[signal.conversation_id] ||
      (batch[signal.conversation_id] = { created: false, messages: [] });
    if (signal.kind === "conversation.created") seen.created = true;
    if (signal.kind === "message.created" && signal.message_id) seen.messages.push(signal.message_id);
    if (!batchTimer) batchTimer = setTimeout(flush, 150);
  });
  document.addEventListener("voxsig:reconnected", refreshState);
  document.addEventListener("visibilitychange", refreshState);
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return; // back from the cache: the page missed what happened meanwhile
    shareViewing(false);
    refreshState();
  });
  refreshState();

  // -- the Profile page's settings -----------------------------------------------------------

  var status = document.querySelector("[data-notify-status]");
  function say(text) { if (status) status.textContent = text; }
  var BLOCKED = "This browser blocks notifications from Voxsig: allow them in the site's " +
    "settings (the icon left of the address), then reload this page.";
  var supported = "Notification" in window;

  // Turning them on asks the browser's permission, once, from the click itself.
  var ask = document.querySelector("form[data-notify-ask]");
  if (ask) {
    ask.addEventListener("submit", function (event) {
      if (!supported || window.Notification.permission === "granted") return; // saved as is
      event.preventDefault();
      if (window.Notification.permission === "denied") { say(BLOCKED); return; }
      var done = function (permission) {
        if (permission === "granted") ask.submit();
        else say(permission === "denied" ? BLOCKED
          : "Your browser did not allow notifications. Try again, and choose Allow.");
      };
      window.Notification.requestPermission().then(done, function () { done("default"); });
    });
  }

  // On for this user, but this browser may not have been asked yet (another computer).
  var allow = document.querySelector("[data-notify-allow]");
  if (allow && status) {
    if (!supported) say("This browser cannot show notifications.");
    else if (window.Notification.permission === "denied") say(BLOCKED);
    else if (window.Notification.permission === "default") {
      say("This browser has not allowed them yet.");
      allow.hidden = false;
      allow.addEventListener("click", function () {
        var done = function (permission) {
          if (permission === "granted") { allow.hidden = true; say("This browser shows them."); }
          else say(BLOCKED);
        };
        window.Notification.requestPermission().then(done, function () { done("default"); });
      });
    } else say("This browser shows them.");
  }

  var test = document.querySelector("[data-notify-test]");
  if (test) {
    test.hidden = false;
    test.addEventListener("click", beep);
  }
})();
