// Voxsig dashboard: the few behaviours that need a script. Everything works without it
// (forms post and the page reloads), except copying to the clipboard and live updates.
(function () {
  "use strict";

  // Styles may tell pages with the script from pages without (.no-js-only buttons).
  document.documentElement.classList.add("js");

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

  // -- the message thread: its scroll position -----------------------------------------------

  function atBottom(list) {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  // The message list shows its newest message.
  function scrollMessages(force) {
    var list = document.getElementById("messages");
    if (!list) return;
    if (force || atBottom(list)) list.scrollTop = list.scrollHeight;
    var more = document.getElementById("new-messages");
    if (more) more.hidden = true;
  }
  scrollMessages(true);

  // "New messages below": shown when messages arrive while the agent reads earlier ones.
  (function () {
    var list = document.getElementById("messages");
    var more = document.getElementById("new-messages");
    if (!list || !more) return;
    more.addEventListener("click", function () { scrollMessages(true); list.focus(); });
    list.addEventListener("scroll", function () { if (atBottom(list)) more.hidden = true; });
  })();

  // The first message at least partly in view, and where it is: kept there by an update.
  function anchorOf(list) {
    var top = list.getBoundingClientRect().top;
    var items = list.children;
    for (var i = 0; i < items.length; i++) {
      var offset = items[i].getBoundingClientRect().top - top;
      if (offset + items[i].offsetHeight > 0) return { node: items[i], offset: offset };
    }
    return null;
  }

  function keepAnchor(list, anchor) {
    if (!anchor || !anchor.node.isConnected) return;
    var offset = anchor.node.getBoundingClientRect().top - list.getBoundingClientRect().top;
    list.scrollTop += offset - anchor.offset;
  }

  // -- morphing: the page's elements updated in place ----------------------------------------
  // An update never replaces what it can change: text and attributes are set on the elements
  // already there, children with a key (data-key, or an id) are matched by it, so a focused
  // control, a text selection and what was typed into a field all survive.

  function keyOf(node) {
    if (node.nodeType !== 1) return null;
    return node.getAttribute("data-key") || (node.id ? "#" + node.id : null);
  }

  function defaultIndex(select) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].defaultSelected) return i;
    }
    return select.multiple || select.size > 1 ? -1 : 0;
  }

  // Whether a control shows the value the page rendered.
  function showsDefault(node) {
    switch (node.tagName) {
      case "INPUT":
        return node.type === "checkbox" || node.type === "radio"
          ? node.checked === node.defaultChecked
          : node.value === node.defaultValue;
      case "TEXTAREA":
        return node.value === node.defaultValue;
      case "SELECT":
        return node.selectedIndex === defaultIndex(node);
      default:
        return false;
    }
  }

  function isControl(node) {
    return !!node && /^(INPUT|SELECT|TEXTAREA)$/.test(node.tagName);
  }

  // A control the agent has not changed: an update shows the new value. One the agent changed
  // keeps the agent's value until it is saved (a refused form renders what was typed as the
  // default, which is still the agent's and not saved). Values the browser restored (going
  // back) count as the agent's.
  function pristine(node) {
    return isControl(node) && !node.voxsigEdited;
  }
  document.querySelectorAll("[data-live-region] input, [data-live-region] select, " +
      "[data-live-region] textarea").forEach(function (node) {
    if (!showsDefault(node)) node.voxsigEdited = true;
  });
  function valueOf(node) {
    return node.type === "checkbox" || node.type === "radio" ? node.checked : node.value;
  }
  document.addEventListener("input", function (event) {
    if (isControl(event.target)) event.target.voxsigEdited = true;
  }, true);
  document.addEventListener("change", function (event) {
    if (isControl(event.target)) event.target.voxsigEdited = true;
  }, true);

  function showDefault(node) {
    if (showsDefault(node)) return; // setting a value moves the caret: only when it changes
    if (node.tagName === "SELECT") node.selectedIndex = defaultIndex(node);
    else if (node.type === "checkbox" || node.type === "radio") node.checked = node.defaultChecked;
    else node.value = node.defaultValue;
  }

  function syncAttributes(node, fresh) {
    var i;
    for (i = node.attributes.length - 1; i >= 0; i--) {
      var name = node.attributes[i].name;
      if (!fresh.hasAttribute(name)) node.removeAttribute(name);
    }
    for (i = 0; i < fresh.attributes.length; i++) {
      var attribute = fresh.attributes[i];
      if (node.getAttribute(attribute.name) !== attribute.value) {
        node.setAttribute(attribute.name, attribute.value);
      }
    }
  }

  // A form whose answer was a refusal keeps its errors and what was typed until the agent
  // sends it again: other updates pass it by.
  var answering = null;

  function morph(node, fresh) {
    if (node.nodeType !== 1) {
      if (node.nodeValue !== fresh.nodeValue) node.nodeValue = fresh.nodeValue;
      return;
    }
    if (node.voxsigHeld && node !== answering) return;
    var untouched = pristine(node);
    syncAttributes(node, fresh);
    morphChildren(node, fresh, null);
    if (untouched) showDefault(node);
  }

  function similar(node, fresh) {
    return node.nodeType === fresh.nodeType && node.nodeName === fresh.nodeName &&
      keyOf(node) === null;
  }

  // Makes node's children those of fresh. `keep(child)` may spare an old keyed child that
  // fresh does not have: it stays where it is.
  function morphChildren(node, fresh, keep) {
    var wanted = {};
    var present = {};
    var child;
    for (child = fresh.firstChild; child; child = child.nextSibling) {
      if (keyOf(child)) wanted[keyOf(child)] = true;
    }
    for (child = node.firstChild; child; child = child.nextSibling) {
      if (keyOf(child)) present[keyOf(child)] = child;
    }
    var spared = function (old) {
      var key = keyOf(old);
      return key !== null && !wanted[key] && keep !== null && keep(old);
    };
    var cursor = node.firstChild;
    // Past old keyed children fresh does not have: gone, or spared where they are.
    var skip = function () {
      while (cursor && keyOf(cursor) !== null && !wanted[keyOf(cursor)]) {
        var next = cursor.nextSibling;
        if (!spared(cursor)) node.removeChild(cursor);
        cursor = next;
      }
    };
    var incoming = Array.prototype.slice.call(fresh.childNodes);
    incoming.forEach(function (item) {
      skip();
      var key = keyOf(item);
      var match = key ? present[key] || null : cursor && similar(cursor, item) ? cursor : null;
      if (match !== null && match.nodeName !== item.nodeName) { // same key, another element
        if (match === cursor) cursor = cursor.nextSibling;
        node.removeChild(match);
        match = null;
      }
      if (match === null) {
        node.insertBefore(document.importNode(item, true), cursor);
        return;
      }
      if (match === cursor) cursor = cursor.nextSibling;
      else node.insertBefore(match, cursor);
      morph(match, item);
    });
    while (cursor) {
      var next = cursor.nextSibling;
      if (!spared(cursor)) node.removeChild(cursor);
      cursor = next;
    }
  }

  // Runs `change` and gives back the focus and the text selection if moving elements took
  // them. A focused element that is gone leaves the focus on its region, not on <body>.
  function preserving(change) {
    var active = document.activeElement;
    if (active === document.body) active = null;
    var home = active ? active.closest("[data-live-region]") : null;
    var selection = window.getSelection();
    var range = null;
    if (selection && selection.rangeCount && !(active && /^(INPUT|TEXTAREA)$/.test(active.tagName))) {
      var r = selection.getRangeAt(0);
      range = [r.startContainer, r.startOffset, r.endContainer, r.endOffset];
    }
    change();
    if (active && document.activeElement !== active) {
      if (active.isConnected) {
        active.focus({ preventScroll: true });
      } else if (home && home.isConnected) {
        if (!home.hasAttribute("tabindex")) home.setAttribute("tabindex", "-1");
        home.focus({ preventScroll: true });
      }
    }
    if (range && range[0].isConnected && range[2].isConnected && selection) {
      var now = selection.rangeCount ? selection.getRangeAt(0) : null;
      if (!now || now.startContainer !== range[0] || now.startOffset !== range[1] ||
          now.endContainer !== range[2] || now.endOffset !== range[3]) {
        try {
          var restored = document.createRange();
          restored.setStart(range[0], range[1]);
          restored.setEnd(range[2], range[3]);
          selection.removeAllRanges();
          selection.addRange(restored);
        } catch (e) { /* the text changed under the selection: it goes, as it would anyway */ }
      }
    }
  }

  // The thread: messages are keyed by id, so new ones are appended and changed ones updated
  // in place. A message that only left the latest-100 window (an earlier-messages link came
  // with it) stays, so nothing moves under an agent reading at the top.
  function mergeThread(list, fresh, latestPage) {
    var windowed = latestPage && fresh.querySelector('[data-key="earlier"]') !== null;
    var first = Infinity;
    fresh.querySelectorAll("[data-message-id]").forEach(function (item) {
      first = Math.min(first, Number(item.getAttribute("data-message-id")));
    });
    morphChildren(list, fresh, function (old) {
      return windowed && old.hasAttribute("data-message-id") &&
        Number(old.getAttribute("data-message-id")) < first;
    });
    var earlier = list.querySelector('[data-key="earlier"]');
    var oldest = list.querySelector("[data-message-id]");
    if (earlier && oldest) {
      if (list.firstElementChild !== earlier) list.insertBefore(earlier, list.firstElementChild);
      var link = earlier.querySelector("a");
      if (link) {
        link.setAttribute("href", link.getAttribute("href").replace(
          /before=\d+/, "before=" + oldest.getAttribute("data-message-id")));
      }
    }
  }

  function messageIds(list) {
    var ids = {};
    list.querySelectorAll("[data-message-id]").forEach(function (item) {
      ids[item.getAttribute("data-message-id")] = true;
    });
    return ids;
  }

  // -- applying a fresh copy of the page -------------------------------------------------------

  var live = document.body.getAttribute("data-live");
  var started = 0;
  var applied = 0;
  var acting = 0; // actions in flight: a refresh waits for their answers
  var again = false; // a refresh was asked for while one could not start
  var schedule = function () {};

  // `fresh` is the page as the server renders it now (a live refresh, or the answer to an
  // action). Answers are applied in the order their requests started: a slow refresh that
  // started before an action cannot undo what the action's answer showed.
  function applyPage(seq, fresh, options) {
    if (seq < applied) return false;
    applied = seq;
    var list = document.getElementById("messages");
    var stick = list && (options.bottom || atBottom(list));
    var anchor = list && !stick ? anchorOf(list) : null;
    var known = list ? messageIds(list) : null;
    var latestPage = !/[?&]before=/.test(window.location.search);
    preserving(function () {
      document.querySelectorAll("[data-live-region]").forEach(function (region) {
        if (region.getAttribute("data-live-region") === "on-submit" && !options.action) return;
        if (region.voxsigHeld && region !== answering) return;
        var replacement = fresh.getElementById(region.id);
        if (!replacement) return;
        if (region.id === "messages") mergeThread(region, replacement, latestPage);
        else morphChildren(region, replacement, null);
      });
    });
    var title = fresh.querySelector("title");
    if (title) document.title = title.textContent;
    if (list) {
      if (stick) {
        scrollMessages(true);
      } else {
        keepAnchor(list, anchor);
        var more = document.getElementById("new-messages");
        var arrived = Object.keys(messageIds(list)).some(function (id) { return !known[id]; });
        if (more && arrived) more.hidden = false;
      }
    }
    return true;
  }

  function parse(html) {
    return new DOMParser().parseFromString(html, "text/html");
  }

  // Live regions: on a signal for what this page shows, fetch the page again and update its
  // live regions ([data-live-region] with an id) in place.
  if (live) {
    var timer = null;
    var busy = false;

    var refresh = function () {
      if (busy || acting) { again = true; return; }
      busy = true;
      var seq = ++started;
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Voxsig-Live": "1" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var fresh = parse(html);
          if (fresh.body.getAttribute("data-live") === live) applyPage(seq, fresh, {});
        })
        .catch(function () { /* offline for a moment: the next signal or reconnect catches up */ })
        .then(function () {
          busy = false;
          if (again) { again = false; schedule(); }
        });
    };

    // A hidden tab waits: fetching a conversation marks it read, which only a glance should do.
    var stale = false;
    schedule = function () {
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

  // -- actions without a reload ----------------------------------------------------------------
  // A form[data-async] posts with fetch (the same fields, CSRF token included), follows the
  // redirect and applies the page it leads to like a live refresh, so nothing typed elsewhere
  // on the page is lost. Its flash message shows as a toast.

  // The toasts' live region exists before anything is put in it, so screen readers read it.
  var toasts = null;
  function toastBox() {
    if (!toasts) {
      toasts = document.createElement("div");
      toasts.className = "toasts";
      toasts.setAttribute("aria-live", "polite");
      document.body.appendChild(toasts);
    }
    return toasts;
  }
  if (document.querySelector("form[data-async]")) toastBox();

  function toast(nodes) {
    toastBox().replaceChildren.apply(toasts, nodes);
    nodes.forEach(function (node) {
      if (!node.classList.contains("flash-error")) {
        setTimeout(function () { node.remove(); }, 5000);
        return;
      }
      // An error stays until dismissed (or the next action's answer replaces it).
      var close = document.createElement("button");
      close.type = "button";
      close.setAttribute("aria-label", "Dismiss");
      close.textContent = "\u00d7";
      close.addEventListener("click", function () { node.remove(); });
      node.appendChild(close);
    });
  }

  function errorToast(text) {
    var note = document.createElement("p");
    note.className = "flash flash-error";
    note.setAttribute("role", "alert");
    note.textContent = text;
    toast([note]);
  }

  function submitInPlace(form, submitter) {
    var fields = new FormData(form);
    if (submitter && submitter.name) fields.append(submitter.name, submitter.value);
    // A form with files (the composer) posts as multipart/form-data, its files included;
    // the others urlencoded, as without the script.
    var body = fields;
    if (form.enctype !== "multipart/form-data") {
      body = new URLSearchParams();
      fields.forEach(function (value, name) { body.append(name, value); });
    }
    form.voxsigBusy = true;
    acting += 1;
    var seq = ++started;
    // What was sent: once saved, a field still holding it shows the saved (normalised) value.
    var sending = Array.prototype.filter.call(form.elements, isControl).map(function (node) {
      return { node: node, value: valueOf(node) };
    });
    fetch(form.action, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        return response.text().then(function (html) { return { response: response, html: html }; });
      })
      .then(function (answer) {
        var response = answer.response;
        var fresh = parse(answer.html);
        if (response.ok && live && fresh.body.getAttribute("data-live") === live) {
          // Done (a redirect to this page) or refused (this page with the errors).
          var sent = form.id === "composer" && response.redirected;
          if (response.redirected) history.replaceState(history.state, "", response.url);
          if (sent) {
            var content = form.querySelector("[data-draft]");
            if (content) { content.value = ""; content.voxsigEdited = false; forgetDraft(content); }
            form.dispatchEvent(new CustomEvent("voxsig:sent"));
          }
          answering = form;
          var shown;
          try {
            shown = applyPage(seq, fresh, { action: true, bottom: sent });
          } finally {
            answering = null;
          }
          form.voxsigHeld = shown && !response.redirected;
          if (response.redirected) {
            // Saved: the fields still holding what was sent are the agent's no more.
            sending.forEach(function (field) {
              if (!field.node.isConnected || valueOf(field.node) !== field.value) return;
              field.node.voxsigEdited = false;
              if (shown) showDefault(field.node);
            });
            if (!shown) schedule(); // a later answer was shown first: catch up
          }
          toast(Array.prototype.map.call(fresh.querySelectorAll("main > .flash"), function (node) {
            return document.importNode(node, true);
          }));
        } else if (response.ok) {
          window.location.assign(response.url); // another page: the login after a session ended
        } else {
          var heading = fresh.querySelector("main h1");
          var message = fresh.querySelector("main h1 + p");
          errorToast((heading ? heading.textContent + ": " : "") +
            (message ? message.textContent : "this was not saved (HTTP " + response.status + ")."));
        }
      })
      .catch(function () {
        errorToast("Voxsig could not be reached, so this was not saved. Try again.");
      })
      .then(function () {
        form.voxsigBusy = false;
        acting -= 1;
        if (!acting && again) { again = false; schedule(); }
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-async]") || !window.fetch || event.defaultPrevented) {
      var draft = form.querySelector && form.querySelector("[data-draft]");
      if (draft) forgetDraft(draft); // a normal post: the page that follows shows the outcome
      return;
    }
    event.preventDefault();
    if (form.voxsigBusy) return; // one click, one action
    submitInPlace(form, event.submitter);
  });

  // Selects of a form[data-autosave] save when changed (the button is for pages without the
  // script). A short wait lets the arrow keys pass over choices without saving each one.
  var autosave = { form: null, timer: null };
  function saveNow() {
    clearTimeout(autosave.timer);
    var form = autosave.form;
    autosave.form = null;
    if (form && form.isConnected) form.requestSubmit();
  }
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (event.target.tagName !== "SELECT" || !form || !form.matches("form[data-autosave]") ||
        !window.fetch) return;
    if (autosave.form && autosave.form !== form) saveNow();
    autosave.form = form;
    clearTimeout(autosave.timer);
    autosave.timer = setTimeout(saveNow, 400);
  });
  document.addEventListener("focusout", function (event) {
    if (autosave.form && event.target.form === autosave.form) saveNow();
  });

  // -- drafts ------------------------------------------------------------------------------------
  // The composer's text (and whether it is a note) is kept per conversation in localStorage
  // until it is sent, so a reload, another page or a closed tab does not lose it. Logging out
  // forgets every draft; a draft untouched for 30 days goes.

  var DRAFT = "voxsig.draft.";
  var DRAFT_DAYS = 30;

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  function forgetDraft(textarea) {
    var store = storage();
    if (store) store.removeItem(DRAFT + textarea.getAttribute("data-draft"));
  }

  function keepDraft(textarea) {
    var store = storage();
    if (!store) return;
    var mode = textarea.form && textarea.form.querySelector('input[name="mode"]:checked');
    try {
      if (textarea.value.trim()) {
        store.setItem(DRAFT + textarea.getAttribute("data-draft"), JSON.stringify({
          text: textarea.value, mode: mode ? mode.value : "reply", at: Date.now()
        }));
      } else {
        forgetDraft(textarea);
      }
    } catch (e) { /* storage full or refused: the draft lives in the page only */ }
  }

  function restoreDrafts() {
    var store = storage();
    if (!store) return;
    var oldest = Date.now() - DRAFT_DAYS * 86400000;
    for (var i = store.length - 1; i >= 0; i--) {
      var key = store.key(i);
      if (key && key.indexOf(DRAFT) === 0) {
        var kept = null;
        try { kept = JSON.parse(store.getItem(key)); } catch (e) { kept = null; }
        if (!kept || !(kept.at > oldest)) store.removeItem(key);
      }
    }
    document.querySelectorAll("textarea[data-draft]").forEach(function (textarea) {
      var kept = null;
      try { kept = JSON.parse(store.getItem(DRAFT + textarea.getAttribute("data-draft"))); } catch (e) { kept = null; }
      // A draft the server shows again (a refused message) wins over an older copy.
      if (!kept || typeof kept.text !== "string" || textarea.value) return;
      textarea.value = kept.text;
      textarea.voxsigEdited = true;
      var mode = textarea.form && textarea.form.querySelector(
        'input[name="mode"][value="' + (kept.mode === "note" ? "note" : "reply") + '"]');
      if (mode) mode.checked = true;
    });
  }
  restoreDrafts();

  document.addEventListener("input", function (event) {
    if (event.target.matches("textarea[data-draft]")) keepDraft(event.target);
  });
  document.addEventListener("change", function (event) {
    if (event.target.name === "mode" && event.target.form) {
      var textarea = event.target.form.querySelector("textarea[data-draft]");
      if (textarea) keepDraft(textarea);
    }
  });
  document.addEventListener("submit", function (event) {
    if (event.target.getAttribute("action") !== "/logout") return;
    var store = storage();
    if (!store) return;
    for (var i = store.length - 1; i >= 0; i--) {
      var key = store.key(i);
      if (key && key.indexOf(DRAFT) === 0) store.removeItem(key);
    }
  });

  // -- typing ----------------------------------------------------------------------------------
  // The contact typing shows under the thread ("Ana is typing…") until off, or 30 s without
  // news; the agent's own typing in the composer is reported, debounced: on when it starts,
  // off after 3 s idle or on sending (is_private while writing a note).
  var typingNode = document.getElementById("typing");
  if (typingNode && live) {
    var typingTimer = null;
    var hideTyping = function () { typingNode.hidden = true; typingNode.textContent = ""; };
    document.addEventListener("voxsig:typing", function (event) {
      var typing = event.detail || {};
      if (String(typing.conversation_id) !== live || typing.user_id !== null) return;
      clearTimeout(typingTimer);
      if (typing.kind !== "conversation.typing_on") { hideTyping(); return; }
      typingNode.textContent = (typingNode.getAttribute("data-typer") || "The contact") + " is typing\u2026";
      typingNode.hidden = false;
      typingTimer = setTimeout(hideTyping, 30000);
    });
  }
  var composer = document.getElementById("composer");
  if (composer) {
    var typingSent = null; // "reply" or "note" while "on" was sent, else null
    var idleTimer = null;
    var report = function (status, note) {
      var body = new FormData();
      var csrf = composer.querySelector('input[name="csrf_token"]');
      body.append("csrf_token", csrf ? csrf.value : "");
      body.append("typing_status", status);
      body.append("is_private", note ? "true" : "false");
      var action = composer.getAttribute("action").replace(/\/messages$/, "/typing");
      fetch(action, { method: "POST", body: body, credentials: "same-origin" }).catch(function () { /* best effort */ });
    };
    var stopTyping = function () {
      clearTimeout(idleTimer);
      if (typingSent !== null) report("off", typingSent === "note");
      typingSent = null;
    };
    composer.addEventListener("input", function (event) {
      if (!event.target.matches("textarea[name=content]")) return;
      var mode = composer.querySelector('input[name="mode"]:checked');
      var now = mode && mode.value === "note" ? "note" : "reply";
      if (typingSent !== now) {
        if (typingSent !== null) report("off", typingSent === "note");
        report("on", now === "note");
        typingSent = now;
      }
      clearTimeout(idleTimer);
      idleTimer = setTimeout(stopTyping, 3000);
    });
    composer.addEventListener("submit", stopTyping);
  }

  // -- the composer's files ----------------------------------------------------------------------
  // The file input stays the one place the files are: picking adds to what was chosen (the
  // browser alone would replace it), files dropped on the composer or pasted into it are added
  // too, and each can be removed from the preview before sending. The input's list is set
  // from a DataTransfer, so the form posts exactly the files shown, with fetch or without.
  (function () {
    var input = composer && composer.querySelector('input[type="file"][name="attachments[]"]');
    var list = composer && document.getElementById("f-attachments-chosen");
    if (!input || !list || !window.DataTransfer) return;
    var chosen = [];
    // The preview is the script's own (a page as rendered has none): updates leave it be.
    list.voxsigHeld = true;

    function humanSize(size) {
      if (size < 1024) return size + " B";
      var units = ["KB", "MB", "GB"];
      var amount = size / 1024;
      for (var i = 0; i < units.length - 1 && amount >= 1024; i++) amount /= 1024;
      return amount.toFixed(1) + " " + units[i];
    }

    function sync() {
      var files = new DataTransfer();
      chosen.forEach(function (file) { files.items.add(file); });
      input.files = files.files;
      input.voxsigEdited = chosen.length > 0;
      render();
    }

    function add(files) {
      Array.prototype.forEach.call(files, function (file) { chosen.push(file); });
      sync();
    }

    function preview(file, item) {
      // Read as a data: URL (the page's CSP allows data: images, not blob:); a big image is
      // not worth the memory: its name and size say enough.
      if (!/^image\//.test(file.type) || file.size > 8 * 1024 * 1024 || !window.FileReader) return;
      var reader = new FileReader();
      reader.addEventListener("load", function () {
        if (!item.isConnected) return;
        var img = document.createElement("img");
        img.src = reader.result;
        img.alt = "";
        img.className = "chosen-thumb";
        item.insertBefore(img, item.firstChild);
      });
      reader.readAsDataURL(file);
    }

    function render() {
      list.replaceChildren();
      chosen.forEach(function (file, index) {
        var item = document.createElement("li");
        var name = document.createElement("span");
        name.className = "chosen-name";
        name.textContent = file.name || "pasted file";
        var size = document.createElement("span");
        size.className = "file-size";
        size.textContent = humanSize(file.size);
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "secondary small";
        remove.textContent = "Remove";
        remove.setAttribute("aria-label", "Remove " + name.textContent);
        remove.addEventListener("click", function () {
          chosen.splice(index, 1);
          sync();
          // The focus goes to the next file's button, or back to the picker.
          var buttons = list.querySelectorAll("button");
          (buttons[Math.min(index, buttons.length - 1)] || input).focus();
        });
        item.append(name, " ", size, " ", remove);
        list.appendChild(item);
        preview(file, item);
      });
      list.hidden = chosen.length === 0;
    }

    input.addEventListener("change", function () {
      // The browser replaced the input's list with the new pick: what was chosen before stays.
      add(input.files);
    });

    composer.addEventListener("dragover", function (event) {
      if (!event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, "Files") < 0) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      composer.classList.add("dropping");
    });
    composer.addEventListener("dragleave", function (event) {
      if (!composer.contains(event.relatedTarget)) composer.classList.remove("dropping");
    });
    composer.addEventListener("drop", function (event) {
      composer.classList.remove("dropping");
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      event.preventDefault();
      add(event.dataTransfer.files);
    });
    composer.addEventListener("paste", function (event) {
      var data = event.clipboardData;
      if (!data || !data.files.length) return;
      // A screenshot pasted is a file; copied text that also has a file keeps its text.
      if (Array.prototype.indexOf.call(data.types, "text/plain") < 0) event.preventDefault();
      add(data.files);
    });
    composer.addEventListener("voxsig:sent", function () {
      chosen = [];
      sync();
    });
  })();

  // -- the live stream ---------------------------------------------------------------------------
  // The account's live signals, on every page of a logged-in agent ([data-stream]): each is
  // re-dispatched on the document as a "voxsig:signal" event ({kind, conversation_id,
  // message_id}); "voxsig:reconnected" says signals may have been missed in a gap. Features
  // listen to those instead of opening streams of their own.
  function openStream() {
    if (!document.body.hasAttribute("data-stream") || !window.EventSource) return;
    var source = new EventSource("/app/live");
    // Every open, the first included, counts as a reconnection: a signal committed between
    // the page's rendering and the stream's opening was sent to nobody (a customer's message
    // in that moment stayed hidden), so the page catches up once it listens.
    source.addEventListener("open", function () {
      document.dispatchEvent(new CustomEvent("voxsig:reconnected"));
    });
    source.addEventListener("message", function (event) {
      var signal;
      try { signal = JSON.parse(event.data); } catch (e) { return; }
      document.dispatchEvent(new CustomEvent("voxsig:signal", { detail: signal }));
    });
    // Typing comes as its own event type, "voxsig:typing": nothing to fetch for it.
    source.addEventListener("typing", function (event) {
      var typing;
      try { typing = JSON.parse(event.data); } catch (e) { return; }
      document.dispatchEvent(new CustomEvent("voxsig:typing", { detail: typing }));
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }
  openStream();
})();
