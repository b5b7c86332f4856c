// Voxsig dashboard: the few behaviours that need a script. Everything works without it,
// except copying to the clipboard and live updates.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="element-id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.textContent;
    var done = function (text) {
      button.textContent = text;
      setTimeout(function () { button.textContent = label; }, 2000);
    };
    source.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(
        function () { done("Copied"); },
        function () { done("Selected: press Ctrl+C"); }
      );
    } else {
      done("Selected: press Ctrl+C");
    }
  });

  // Ctrl+Enter (or Cmd+Enter) in a textarea sends its form.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) &&
        event.target.tagName === "TEXTAREA" && event.target.form) {
      event.preventDefault();
      event.target.form.requestSubmit();
    }
  });

  // The message list shows its newest message.
  function scrollMessages(force) {
    var list = document.getElementById("messages");
    if (!list) return;
    var nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    if (force || nearBottom) list.scrollTop = list.scrollHeight;
  }
  scrollMessages(true);

  // The account's live signals, on every page of a logged-in agent ([data-stream]): each is
  // re-dispatched on the document as a "voxsig:signal" event ({kind, conversation_id,
  // message_id}); "voxsig:reconnected" says signals may have been missed in a gap. Features
  // listen to those instead of opening streams of their own.
  function openStream() {
    if (!document.body.hasAttribute("data-stream") || !window.EventSource) return;
    var source = new EventSource("/app/live");
    var connectedBefore = false;
    source.addEventListener("open", function () {
      if (connectedBefore) document.dispatchEvent(new CustomEvent("voxsig:reconnected"));
      connectedBefore = true;
    });
    source.addEventListener("message", function (event) {
      var signal;
      try { signal = JSON.parse(event.data); } catch (e) { return; }
      document.dispatchEvent(new CustomEvent("voxsig:signal", { detail: signal }));
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  // Live regions: on a signal for what this page shows, fetch the page again and swap its
  // live regions ([data-live-region] with an id). A region holding the keyboard focus is left
  // alone until the next update, so nobody loses what they are typing.
  var live = document.body.getAttribute("data-live");
  if (live) {
    var timer = null;
    var busy = false;
    var again = false;

    var refresh = function () {
      if (busy) { again = true; return; }
      busy = true;
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Voxsig-Live": "1" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var list = document.getElementById("messages");
          var stick = list && list.scrollHeight - list.scrollTop - list.clientHeight < 80;
          document.querySelectorAll("[data-live-region]").forEach(function (region) {
            var replacement = fresh.getElementById(region.id);
            if (!replacement || region.contains(document.activeElement)) return;
            if (replacement.innerHTML !== region.innerHTML) region.innerHTML = replacement.innerHTML;
          });
          var title = fresh.querySelector("title");
          if (title) document.title = title.textContent;
          if (stick) scrollMessages(true);
        })
        .catch(function () { /* offline for a moment: the next signal or reconnect catches up */ })
        .then(function () {
          busy = false;
          if (again) { again = false; schedule(); }
        });
    };

    // A hidden tab waits: fetching a conversation marks it read, which only a glance should do.
    var stale = false;
    var schedule = function () {
      if (document.hidden) { stale = true; return; }
      clearTimeout(timer);
      timer = setTimeout(refresh, 100);
    };
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && stale) { stale = false; schedule(); }
    });
    document.addEventListener("voxsig:reconnected", schedule);
    document.addEventListener("voxsig:signal", function (event) {
      if (live === "list" || String(event.detail.conversation_id) === live) schedule();
    });
  }
  openStream();
})();
