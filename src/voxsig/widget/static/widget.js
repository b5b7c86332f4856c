/*
 * Voxsig widget: the page inside the SDK's iframe (/widget?website_token=…).
 *
 * It talks to the Widget API (same origin) and to the SDK in the host page (postMessage):
 *   SDK -> here: init {authToken, locale, referer, darkMode}, open/close {referer, timestamp},
 *                setUser, setLocale, setCustomAttributes, and {value}: deleteCustomAttribute,
 *                setConversationCustomAttributes, deleteConversationCustomAttribute, setLabel,
 *                removeLabel (the conversation's wait until the visitor has one)
 *   here -> SDK: loaded, auth {token} (to keep), ready {color}, close, unread {count},
 *                error {message}, message {message} (each new one, once: chatwoot:on-message)
 * Messages arrive live over server-sent events (/api/v1/widget/live); after each (re)connect
 * the page fetches what it may have missed. Everything from the server is shown as text, never
 * as HTML. Files (the paperclip, a drop, a pasted image) wait in a tray until sent with the
 * message as multipart/form-data, through XMLHttpRequest for its upload progress.
 */
(function () {
  "use strict";
  var API = "/api/v1/widget/";
  var INCOMING = 0, ACTIVITY = 2;
  var STREAM_RETRY_MS = 30000;
  var websiteToken = new URLSearchParams(location.search).get("website_token") || "";
  var embedded = window.parent !== window;
  var parentOrigin = null;
  var state = {
    token: "", locale: navigator.language || "en", referer: document.referrer,
    config: null, conversationId: null, open: !embedded, unread: 0, started: false
  };
  var shown = new Map(); // message id -> {message, node}
  var pending = new Map(); // echo id -> {key, node}
  var told = new Set(); // ids of messages the SDK was told of (on-message)
  var later = []; // what the page asked of a conversation the visitor does not have yet
  var source = null, seenTimer = null, readyWaiters = [];
  var $ = function (selector) { return document.querySelector(selector); };
  var list = $(".list"), form = $(".composer"), input = $(".composer textarea");
  var tray = $(".tray"), picker = $(".picker");

  function tell(type, data) {
    if (!embedded) return;
    var message = Object.assign({ voxsig: true, type: type }, data || {});
    window.parent.postMessage(message, parentOrigin || "*");
  }

  function whenReady() {
    return new Promise(function (resolve) {
      if (state.config) resolve();
      else readyWaiters.push(resolve);
    });
  }

  // -- the Widget API ---------------------------------------------------------------------

  function url(path, query) {
    return API + path + "?website_token=" + encodeURIComponent(websiteToken) + (query || "");
  }

  function call(method, path, body, query) {
    var headers = { "Content-Type": "application/json" };
    if (state.token) headers["X-Auth-Token"] = state.token;
    var init = { method: method, headers: headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(url(path, query), init).then(function (response) {
      return response.text().then(function (text) { return answer(response.status, text); });
    });
  }

  // The JSON of an answer, or an Error carrying the server's own `message` (a 413 or 422
  // names the file at fault) and the status; a proxy's HTML error page is just its status.
  function answer(status, text) {
    var data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (status >= 200 && status < 300) return data;
    var error = new Error((data && typeof data.message === "string" && data.message) || "HTTP " + status);
    error.status = status;
    throw error;
  }

  // POST messages as multipart/form-data: fetch reports no upload progress, XHR does
  // (`progress(fraction)`, then null once every byte is sent and the server is storing them).
  function upload(fields, files, progress) {
    var body = new FormData();
    Object.keys(fields).forEach(function (name) { body.append(name, fields[name]); });
    files.forEach(function (file) { body.append("attachments[]", file, file.name); });
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url("messages"));
      if (state.token) xhr.setRequestHeader("X-Auth-Token", state.token);
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable) progress(event.loaded < event.total ? event.loaded / event.total : null);
      };
      xhr.upload.onload = function () { progress(null); };
      xhr.onload = function () {
        try { resolve(answer(xhr.status, xhr.responseText)); } catch (error) { reject(error); }
      };
      xhr.onerror = function () { reject(new Error("the upload failed; check the files and your connection")); };
      xhr.onabort = xhr.onerror;
      xhr.send(body);
    });
  }

  function setToken(token) {
    if (token === state.token) return false;
    state.token = token;
    tell("auth", { token: token });
    if (!embedded) try { localStorage.setItem("voxsig.token." + websiteToken, token); } catch (e) { /* blocked */ }
    return true;
  }

  function notice(text) {
    var node = $(".notice");
    node.textContent = text || "";
    node.hidden = !text;
  }

  // -- starting: config, history, live stream -----------------------------------------------

  var startup = null; // settles once start() has connected (or failed): setUser waits for it

  function start() {
    if (state.started) return;
    state.started = true;
    startup = call("POST", "config").catch(function (error) {
      if (error.status !== 401 || !state.token) throw error;
      state.token = ""; // a token of another server or inbox: become a new visitor
      return call("POST", "config");
    }).then(function (data) {
      state.config = data.website_channel_config;
      setToken(data.auth_token);
      applyConfig(state.config);
      readyWaiters.splice(0).forEach(function (resolve) { resolve(); });
      tell("ready", { color: state.config.widget_color });
      return reload();
    }).then(connect).catch(function (error) {
      notice("The chat is not available right now (" + error.message + ").");
    });
  }

  function applyConfig(config) {
    document.documentElement.style.setProperty("--brand", config.widget_color || "#1f93ff");
    $(".title").textContent = config.welcome_title || config.website_name || "Chat";
    $(".tagline").textContent = config.welcome_tagline || "";
    $(".close").hidden = !embedded;
    // The welcome title and tagline are the header; the inbox's greeting is a real message,
    // which the server adds when the conversation starts (it arrives with the history).
  }

  function reload() {
    shown.forEach(function (entry) { entry.node.remove(); });
    shown.clear();
    state.conversationId = null;
    return catchUp();
  }

  function lastId() {
    var last = 0;
    shown.forEach(function (entry, id) { if (id > last) last = id; });
    return last;
  }

  function catchUp() {
    var after = lastId();
    return call("GET", "messages", undefined, after ? "&after=" + after : "").then(function (data) {
      data.payload.forEach(function (message) {
        upsert(message, false);
        if (after) announce(message); // missed while the stream was away: new to the page
      });
      if (data.conversation) state.conversationId = data.conversation.id;
      showStatus(data.conversation);
      markSeen();
      haveConversation();
    });
  }

  // Chatwoot's on-message detail is the message as its live channel sends it: these names too.
  var SENDER_TYPES = { user: "User", contact: "Contact", agent_bot: "AgentBot" };
  function announce(message) {
    if (told.has(message.id)) return;
    told.add(message.id);
    var sender = message.sender;
    tell("message", { message: Object.assign({}, message, {
      sender_type: sender ? SENDER_TYPES[sender.type] || "Contact" : null,
      sender_id: sender ? sender.id : null,
      private: false
    }) });
  }

  function onConversation(action) {
    later.push(action);
    haveConversation();
  }

  function haveConversation() {
    if (state.conversationId) later.splice(0).forEach(function (action) { action().catch(fail); });
  }

  function connect() {
    if (source) source.close();
    var opened = new EventSource(url("live", "&auth_token=" + encodeURIComponent(state.token)));
    source = opened;
    opened.onerror = function () {
      // EventSource retries lost connections itself but gives up on an HTTP error (e.g. 429:
      // too many streams open from this address): try again later, unless replaced meanwhile.
      if (opened.readyState === EventSource.CLOSED) {
        setTimeout(function () { if (source === opened) connect(); }, STREAM_RETRY_MS);
      }
    };
    source.addEventListener("ready", function () { catchUp().catch(function () { /* next time */ }); });
    ["message.created", "message.updated"].forEach(function (kind) {
      source.addEventListener(kind, function (event) {
        var message = JSON.parse(event.data);
        upsert(message, true);
        if (kind === "message.created") announce(message);
      });
    });
    ["conversation.typing_on", "conversation.typing_off"].forEach(function (kind) {
      source.addEventListener(kind, function (event) {
        var data = JSON.parse(event.data);
        if (state.conversationId && data.conversation_id !== state.conversationId) return;
        agentTyping(kind === "conversation.typing_on");
      });
    });
    ["conversation.created", "conversation.updated"].forEach(function (kind) {
      source.addEventListener(kind, function (event) {
        var conversation = JSON.parse(event.data);
        if (!state.conversationId || conversation.id > state.conversationId) {
          state.conversationId = conversation.id;
        }
        catchUp().catch(function () { /* next time */ }); // e.g. an agent's reply meanwhile
      });
    });
  }

  // -- typing ----------------------------------------------------------------------------------
  // An agent's typing shows as "typing…" until off (or 30 s without news); the server never
  // sends a private note's. The visitor's own is reported, debounced: on when it starts, off
  // after 3 s idle or on sending (only once there is a conversation to type in).
  var typingNode = $(".typing"), agentTimer = null, visitorTyping = false, idleTimer = null;
  function agentTyping(on) {
    clearTimeout(agentTimer);
    typingNode.hidden = !on;
    if (on) agentTimer = setTimeout(function () { typingNode.hidden = true; }, 30000);
  }
  function reportTyping(on) {
    clearTimeout(idleTimer);
    if (on === visitorTyping || !state.conversationId || !state.token) return;
    visitorTyping = on;
    call("POST", "conversations/toggle_typing", { typing_status: on ? "on" : "off" }).catch(function () { /* best effort */ });
  }
  input.addEventListener("input", function () {
    if (!input.value.trim()) { reportTyping(false); return; }
    reportTyping(true);
    idleTimer = setTimeout(function () { reportTyping(false); }, 3000);
  });

  // -- showing messages ------------------------------------------------------------------------

  // The server sends a visitor no activity lines (they name agents, labels, priorities): the
  // widget says itself, from the conversation's status, that it was resolved.
  var statusNode = null;
  function showStatus(conversation) {
    var resolved = conversation && conversation.status === "resolved";
    if (statusNode) statusNode.remove();
    statusNode = null;
    if (!resolved) return;
    statusNode = messageNode({ content: "This conversation was resolved. Write to reopen it.", message_type: ACTIVITY }, "status");
    list.append(statusNode);
    scrollDown();
  }

  function upsert(message, live) {
    if (state.conversationId && message.conversation_id < state.conversationId) return;
    if (state.conversationId && message.conversation_id > state.conversationId) {
      shown.forEach(function (entry) { entry.node.remove(); });
      shown.clear(); // the visitor's newer conversation replaces the old one on screen
    }
    state.conversationId = message.conversation_id;
    if (message.message_type === INCOMING) dropEcho(echoKey(message.content, names(message.attachments)));
    var old = shown.get(message.id);
    var node = messageNode(message);
    if (old) old.node.replaceWith(node);
    else insertInOrder(node, message.id);
    shown.set(message.id, { message: message, node: node });
    groupSenders();
    if (!old && live && message.message_type !== INCOMING && message.message_type !== ACTIVITY) {
      if (state.open) markSeen();
      else tell("unread", { count: ++state.unread });
    }
    scrollDown();
  }

  function scrollDown() {
    list.scrollTop = list.scrollHeight; // not scrollIntoView: that would scroll the host page
  }

  function groupSenders() {
    var previous = null; // a name is shown once per run of messages from the same sender
    list.querySelectorAll(".msg").forEach(function (node) {
      var name = node.querySelector(".sender");
      if (name) name.hidden = node.dataset.sender === previous;
      previous = node.dataset.sender || null;
    });
  }

  function insertInOrder(node, id) {
    var before = null;
    shown.forEach(function (entry, otherId) {
      if (otherId > id && (!before || otherId < before.id)) before = { id: otherId, node: entry.node };
    });
    var firstEcho = list.querySelector(".pending");
    list.insertBefore(node, before ? before.node : firstEcho);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function messageNode(message, extraClass) {
    var kind = message.message_type === INCOMING ? "in" : message.message_type === ACTIVITY ? "activity" : "out";
    var node = el("div", "msg " + kind + (extraClass ? " " + extraClass : ""));
    if (message.id) node.dataset.id = message.id;
    if (message.sender) node.dataset.sender = message.sender.type + ":" + message.sender.id;
    if (kind === "out" && message.sender && message.sender.name) {
      node.append(el("div", "sender", message.sender.name));
    }
    if (message.content) node.append(el("div", "text", message.content));
    var files = filesNode(objects(message.attachments));
    if (files) node.append(files);
    var interactive = interactiveNode(message);
    if (interactive) node.append(interactive);
    if (message.created_at) node.title = new Date(message.created_at * 1000).toLocaleString();
    return node;
  }

  // -- a message's files ------------------------------------------------------------------------
  // The server's own signed links (absolute, http(s)): images inline (the thumbnail when there
  // is one, opening the file), audio and video with their controls, anything else a download
  // link with its name and size. Names are the sender's: shown as text only.

  function filesNode(attachments) {
    var shownFiles = attachments.map(fileNode).filter(Boolean);
    if (!shownFiles.length) return null;
    var node = el("div", "files");
    shownFiles.forEach(function (child) { node.append(child); });
    return node;
  }

  function fileNode(attachment) {
    var href = address(attachment.data_url, WEB);
    if (!href) return null;
    var name = words(attachment.file_name) || "file";
    if (attachment.file_type === "image") {
      var image = link(href, undefined, "image");
      image.setAttribute("aria-label", "Open image " + name);
      var img = el("img");
      img.alt = name;
      img.src = address(attachment.thumb_url, WEB) || href;
      image.append(img);
      return image;
    }
    if (attachment.file_type === "audio" || attachment.file_type === "video") {
      var player = el(attachment.file_type);
      player.controls = true;
      player.preload = "metadata";
      player.src = href;
      player.setAttribute("aria-label", name);
      return player;
    }
    var file = link(href, undefined, "file");
    file.setAttribute("download", name);
    file.append(el("span", "name", name), el("span", "size", humanSize(attachment.file_size)));
    return file;
  }

  function humanSize(bytes) {
    if (typeof bytes !== "number" || !isFinite(bytes) || bytes < 0) return "";
    var units = ["B", "KB", "MB", "GB"], size = bytes, unit = 0;
    while (size >= 1024 && unit < units.length - 1) { size /= 1024; unit++; }
    return (unit && size < 10 ? size.toFixed(1) : Math.round(size)) + " " + units[unit];
  }

  function names(attachments) {
    return objects(attachments).map(function (a) { return words(a.file_name); });
  }

  // -- interactive messages -----------------------------------------------------------------------
  // Questions (input_select, input_email, form, input_csat) are answered once, as
  // submitted_values; cards ask only through their postback actions; articles ask nothing. Bots
  // and agents are strangers to the visitor: every value is shown as text, `items` may be any
  // JSON, and only http(s) addresses become links (images https only: the page's CSP loads no
  // others, and a blocked one would only show broken).

  var QUESTIONS = ["input_select", "input_email", "form", "input_csat"];
  var WEB = ["http:", "https:"];
  // Chatwoot's CSAT scale: a rating 1-5, each shown as its face.
  var RATINGS = [[1, "😞"], [2, "😑"], [3, "😐"], [4, "😀"], [5, "😍"]];

  function interactiveNode(message) {
    var attributes = message.content_attributes || {};
    var type = message.content_type;
    var items = objects(attributes.items);
    if (type === "article") return articlesNode(items);
    if (type === "cards") return cardsNode(message, items, attributes.submitted_values);
    if (QUESTIONS.indexOf(type) < 0) return null;
    if (attributes.submitted_values) return answerNode(attributes.submitted_values);
    if (type === "input_select") return choicesNode(message, items);
    if (type === "input_csat") return csatNode(message);
    var fields = type === "form" ? items : [{ name: "email", label: "Email", type: "email", required: true }];
    return formNode(message, fields);
  }

  // The objects of a list, and nothing for anything else: a null item would break rendering.
  function objects(value) {
    if (!Array.isArray(value)) return [];
    return value.filter(function (item) { return item !== null && typeof item === "object"; });
  }

  // A string or number as text; an object would only show as "[object Object]".
  function words(value) {
    return typeof value === "string" || typeof value === "number" ? String(value) : "";
  }

  // The address, normalised, when it is absolute and of one of `protocols`; else null, so a
  // javascript:, data: or relative "link" is never one.
  function address(value, protocols) {
    if (typeof value !== "string") return null;
    var parsed;
    try { parsed = new URL(value); } catch (e) { return null; }
    return protocols.indexOf(parsed.protocol) >= 0 ? parsed.href : null;
  }

  function link(href, text, className) {
    var node = el("a", className, text);
    node.href = href;
    node.target = "_blank";
    node.rel = "noopener noreferrer";
    return node;
  }

  function answerNode(values) {
    if (values && values.csat_survey_response) return ratingNode(values.csat_survey_response);
    var node = el("div", "answer");
    objects(Array.isArray(values) ? values : [values]).forEach(function (value) {
      var line = el("div");
      var text = value.value !== undefined && value.value !== null ? value.value : value.title;
      if (value.name && value.title) line.append(words(value.title) + ": "); // a form field
      else if (value.title) text = value.title; // a choice shows its title
      line.append(el("b", "", words(text)));
      node.append(line);
    });
    return node;
  }

  // -- cards and articles ----------------------------------------------------------------------

  function cardsNode(message, cards, answered) {
    var node = el("div", "cards");
    cards.forEach(function (card) { node.append(cardNode(message, card, node, !!answered)); });
    if (answered) node.append(answerNode(answered));
    return node;
  }

  function cardNode(message, card, group, answered) {
    var node = el("div", "card");
    var image = address(card.media_url, ["https:"]);
    if (image) {
      var img = el("img");
      img.alt = "";
      img.referrerPolicy = "no-referrer"; // the bot's image host learns nothing of the site
      img.src = image;
      node.append(img);
    }
    if (words(card.title)) node.append(el("div", "card-title", words(card.title)));
    if (words(card.description)) node.append(el("div", "card-text", words(card.description)));
    objects(card.actions).forEach(function (action) {
      var control = actionNode(message, action, group, answered);
      if (control) node.append(control);
    });
    return node;
  }

  // A link action opens its page; a postback answers the message with its payload. Anything
  // else (an unknown type, a link that is not http(s)) offers nothing, so it is left out.
  function actionNode(message, action, group, answered) {
    var text = words(action.text);
    if (action.type === "link") {
      var href = address(action.uri, WEB);
      return href ? link(href, text || href, "action") : null;
    }
    if (action.type !== "postback") return null;
    var payload = words(action.payload);
    var button = el("button", "action", text || payload);
    button.type = "button";
    button.disabled = answered;
    button.addEventListener("click", function () {
      submit(message, [{ title: text, value: payload }], group);
    });
    return button;
  }

  function articlesNode(articles) {
    var node = el("ul", "articles");
    articles.forEach(function (article) {
      var entry = el("li");
      var href = address(article.link, WEB);
      var title = words(article.title) || href || "";
      entry.append(href ? link(href, title, "article-title") : el("span", "article-title", title));
      if (words(article.description)) entry.append(el("div", "article-text", words(article.description)));
      node.append(entry);
    });
    return node;
  }

  // -- CSAT --------------------------------------------------------------------------------------
  // Chatwoot's widget sends a rating as soon as it is clicked and the feedback later; here an
  // answer is taken once, so the rating is chosen first and sent with the optional feedback.

  function csatNode(message) {
    var node = el("form", "ask csat");
    var chosen = 0;
    var row = el("div", "ratings");
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", "Your rating");
    var feedback = el("textarea");
    feedback.name = "feedback_message";
    feedback.placeholder = "Tell us more (optional)";
    feedback.rows = 2;
    feedback.maxLength = 2000;
    var send = el("button", "", "Submit");
    send.type = "submit";
    send.disabled = true;
    RATINGS.forEach(function (rating) {
      var button = el("button", "", rating[1]);
      button.type = "button";
      button.value = String(rating[0]);
      button.title = rating[0] + " of 5";
      button.setAttribute("aria-label", rating[0] + " of 5");
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", function () {
        chosen = rating[0];
        row.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
        send.disabled = false;
      });
      row.append(button);
    });
    node.append(el("div", "csat-title", "Rate the conversation"), row, feedback, send);
    node.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!chosen) return;
      var response = { rating: chosen, feedback_message: feedback.value.trim() };
      submit(message, { csat_survey_response: response }, node);
    });
    return node;
  }

  function ratingNode(response) {
    var node = el("div", "answer");
    var face = RATINGS.filter(function (rating) { return rating[0] === response.rating; })[0];
    var line = el("div", "", "Your rating: ");
    line.append(el("b", "", face ? face[1] + " " + face[0] + " of 5" : words(response.rating)));
    node.append(line);
    if (words(response.feedback_message)) node.append(el("div", "feedback", words(response.feedback_message)));
    return node;
  }

  // -- questions ---------------------------------------------------------------------------------

  function choicesNode(message, items) {
    var node = el("div", "choices");
    items.forEach(function (item) {
      var button = el("button", "", String(item.title || item.value || ""));
      button.type = "button";
      button.addEventListener("click", function () {
        submit(message, [{ title: item.title, value: item.value }], node);
      });
      node.append(button);
    });
    return node;
  }

  function formNode(message, fields) {
    var node = el("form", "ask");
    fields.forEach(function (field, index) {
      var label = el("label", "", String(field.label || field.name || ""));
      label.append(controlNode(field, index));
      node.append(label);
    });
    var button = el("button", "", "Submit");
    button.type = "submit";
    node.append(button);
    node.addEventListener("submit", function (event) {
      event.preventDefault();
      var values = fields.map(function (field, index) {
        var control = node.elements[index];
        return { name: control.name, title: String(field.label || control.name), value: control.value };
      });
      submit(message, values, node);
    });
    return node;
  }

  // A form field's control: Chatwoot's types text, email, text_area and select (its options
  // [{label, value}]); anything else is a text input.
  function controlNode(field, index) {
    var multiline = field.type === "text_area" || field.type === "textarea";
    var control = el(field.type === "select" ? "select" : multiline ? "textarea" : "input");
    if (field.type === "select") {
      objects(field.options).forEach(function (option) {
        var choice = el("option", "", words(option.label) || words(option.value));
        choice.value = words(option.value);
        control.append(choice);
      });
    } else {
      if (!multiline) {
        control.type = ["email", "tel", "number", "url"].indexOf(field.type) >= 0 ? field.type : "text";
      }
      control.placeholder = String(field.placeholder || "");
    }
    control.name = String(field.name || "field" + index);
    control.required = !!field.required;
    if (field.default) control.value = String(field.default);
    return control;
  }

  function submit(message, values, node) {
    node.querySelectorAll("button, input, textarea, select").forEach(function (c) { c.disabled = true; });
    call("PATCH", "messages/" + message.id, { submitted_values: values }).then(function (updated) {
      upsert(updated, false);
    }).catch(function (error) {
      node.querySelectorAll("button, input, textarea, select").forEach(function (c) { c.disabled = false; });
      notice("Could not send your answer (" + error.message + ").");
    });
  }

  // -- writing -----------------------------------------------------------------------------------

  // A message on its way is shown at once; the server's copy replaces it. The stream may bring
  // that copy before the answer does: it is known by its text and its files' names.
  function echoKey(content, fileNames) {
    return JSON.stringify([content || "", fileNames || []]);
  }

  function dropEcho(key) {
    var found = null;
    pending.forEach(function (entry, id) { if (!found && entry.key === key) found = id; });
    if (found) {
      pending.get(found).node.remove();
      pending.delete(found);
    }
  }

  function send(content, files) {
    var echoId = "echo-" + Date.now() + "-" + Math.random().toString(36).slice(2);
    var node = messageNode({ content: content, message_type: INCOMING }, "pending");
    var bar = files.length ? pendingFiles(node, files) : null;
    list.append(node);
    scrollDown();
    pending.set(echoId, { key: echoKey(content, files.map(function (f) { return f.name; })), node: node });
    whenReady().then(function () {
      var fields = { content: content, echo_id: echoId, referer: state.referer };
      if (!files.length) return call("POST", "messages", fields);
      return upload(fields, files, function (fraction) {
        if (fraction === null) bar.removeAttribute("value"); // sent: the server is storing them
        else bar.value = fraction;
      });
    }).then(function (message) {
      if (pending.has(echoId)) {
        node.remove();
        pending.delete(echoId);
      }
      var started = message.conversation_id !== state.conversationId;
      upsert(message, false);
      announce(message); // whether or not the stream brings it too
      notice("");
      haveConversation();
      // A first message starts a conversation, which may begin with the inbox's greeting
      // (an earlier id than this message): fetch the whole start, whatever the stream did.
      if (started) reload().catch(function () { /* the stream's next ready catches up */ });
    }).catch(function (error) {
      node.classList.replace("pending", "failed");
      if (bar) bar.remove();
      pending.delete(echoId);
      notice("Your message was not sent (" + error.message + ").");
      // The files go back to the tray, so the visitor can drop the one at fault and resend.
      if (files.length && !chosen.length) addFiles(files);
    });
  }

  // A pending message's files by name and size, and its upload progress.
  function pendingFiles(node, files) {
    var box = el("div", "files");
    files.forEach(function (file) {
      var item = el("span", "file");
      item.append(el("span", "name", file.name), el("span", "size", humanSize(file.size)));
      box.append(item);
    });
    var bar = el("progress", "upload");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-label", "Uploading");
    box.append(bar);
    node.append(box);
    return bar;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var content = input.value.trim();
    if (!content && !chosen.length) return;
    input.value = "";
    reportTyping(false);
    send(content, takeFiles());
  });

  // -- files before sending: the tray -----------------------------------------------------------
  // Picked with the paperclip, dropped on the widget or pasted (images from the clipboard);
  // images preview through object URLs (the page's CSP allows blob: images), every file shows
  // its name and size and can be removed. Which files are allowed is the server's to say.

  var chosen = []; // {file, preview (an object URL, or ""), node}
  var PREVIEWED = ["image/png", "image/jpeg", "image/gif", "image/webp"]; // pictures, not SVG

  function addFiles(files) {
    Array.prototype.forEach.call(files, function (file) {
      var entry = { file: file, preview: "", node: el("li", "chip") };
      if (PREVIEWED.indexOf(file.type) >= 0) {
        entry.preview = URL.createObjectURL(file);
        var img = el("img");
        img.alt = "";
        img.src = entry.preview;
        entry.node.append(img);
      }
      var about = el("span", "about");
      about.append(el("span", "name", file.name), el("span", "size", humanSize(file.size)));
      var remove = el("button", "remove", "×");
      remove.type = "button";
      remove.setAttribute("aria-label", "Remove " + file.name);
      remove.addEventListener("click", function () { removeFile(entry); });
      entry.node.append(about, remove);
      entry.node.title = file.name;
      chosen.push(entry);
      tray.append(entry.node);
    });
    tray.hidden = !chosen.length;
  }

  function removeFile(entry) {
    var at = chosen.indexOf(entry);
    if (at < 0) return;
    chosen.splice(at, 1);
    forget(entry);
    tray.hidden = !chosen.length;
    // Focus stays in the tray (the next file's remove button), or goes back to the message.
    var next = chosen[Math.min(at, chosen.length - 1)];
    (next ? next.node.querySelector(".remove") : input).focus();
  }

  function forget(entry) {
    if (entry.preview) URL.revokeObjectURL(entry.preview);
    entry.node.remove();
  }

  function takeFiles() {
    var files = chosen.map(function (entry) { return entry.file; });
    chosen.splice(0).forEach(forget);
    tray.hidden = true;
    return files;
  }

  $(".attach").addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    addFiles(picker.files);
    picker.value = ""; // the same file may be picked again
    input.focus();
  });

  // Dragging files over the widget shows where to drop them; anything else dragged is left
  // to the browser. The counter keeps the hint up while passing over child elements.
  var app = $(".app"), dropHint = $(".drop"), dragDepth = 0;
  function carriesFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") >= 0;
  }
  app.addEventListener("dragenter", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth++;
    dropHint.hidden = false;
  });
  app.addEventListener("dragover", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  app.addEventListener("dragleave", function (event) {
    if (!carriesFiles(event)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) dropHint.hidden = true;
  });
  app.addEventListener("drop", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    dropHint.hidden = true;
    addFiles(event.dataTransfer.files);
    input.focus();
  });

  // A pasted image (a screenshot) joins the tray; pasted text stays text.
  input.addEventListener("paste", function (event) {
    var items = (event.clipboardData && event.clipboardData.items) || [];
    var files = [], hasText = false;
    Array.prototype.forEach.call(items, function (item) {
      if (item.kind === "string" && item.type === "text/plain") hasText = true;
      if (item.kind !== "file") return;
      var file = item.getAsFile();
      if (!file) return;
      if (!file.name) { // a screenshot may come without one
        var extension = (file.type.split("/")[1] || "bin").replace(/[^a-z0-9]/gi, "");
        file = new File([file], "pasted-" + Date.now() + "." + extension, { type: file.type });
      }
      files.push(file);
    });
    if (!files.length) return;
    if (!hasText) event.preventDefault();
    addFiles(files);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $(".close").addEventListener("click", function () { tell("close"); });

  // -- read receipts -----------------------------------------------------------------------------

  function markSeen() {
    if (!state.open || !state.conversationId || document.visibilityState !== "visible") return;
    clearTimeout(seenTimer);
    seenTimer = setTimeout(function () {
      call("POST", "conversations/update_last_seen").catch(function () { /* next time */ });
    }, 300);
  }
  document.addEventListener("visibilitychange", markSeen);

  // -- the SDK's commands ------------------------------------------------------------------------

  function fail(error) {
    notice(error.message);
    tell("error", { message: error.message });
  }

  var commands = {
    init: function (m) {
      state.token = String(m.authToken || "");
      state.locale = String(m.locale || state.locale);
      document.documentElement.lang = state.locale;
      document.documentElement.dataset.darkMode = m.darkMode === "auto" ? "auto" : "light";
      state.referer = String(m.referer || state.referer);
      start();
    },
    open: function (m) {
      state.open = true;
      state.referer = String(m.referer || state.referer);
      state.unread = 0;
      tell("unread", { count: 0 });
      whenReady().then(function () {
        var event = { initiated_at: { timestamp: String(m.timestamp || "") }, referer: state.referer };
        markSeen();
        return call("POST", "events", { name: "webwidget.triggered", event_info: event },
          "&locale=" + encodeURIComponent(state.locale));
      }).catch(fail);
      input.focus();
    },
    close: function () {
      state.open = false;
    },
    setLocale: function (m) {
      state.locale = String(m.locale || state.locale);
      document.documentElement.lang = state.locale;
    },
    setUser: function (m) {
      var body = Object.assign({}, m.user || {}, { identifier: String(m.identifier) });
      // A verified login may end the anonymous visitor (and its token): its stream must not
      // reconnect with that token meanwhile.
      (startup || Promise.resolve()).then(function () {
        var streaming = !!source;
        if (source) { source.close(); source = null; }
        return call("PATCH", "contact/set_user", body).then(function (contact) {
          if (setToken(contact.auth_token)) return reload().then(connect);
          if (streaming) connect();
        }, function (error) {
          if (streaming) connect();
          throw error;
        });
      }).catch(fail);
    },
    setCustomAttributes: function (m) {
      call("PATCH", "contact", { custom_attributes: m.attributes || {} }).catch(fail);
    },
    deleteCustomAttribute: function (m) {
      call("POST", "contact/destroy_custom_attributes", { custom_attributes: [String(m.value)] }).catch(fail);
    },
    setConversationCustomAttributes: function (m) {
      onConversation(function () {
        return call("POST", "conversations/set_custom_attributes", { custom_attributes: m.value });
      });
    },
    deleteConversationCustomAttribute: function (m) {
      onConversation(function () {
        return call("POST", "conversations/destroy_custom_attributes", { custom_attribute: [String(m.value)] });
      });
    },
    setLabel: function (m) {
      onConversation(function () { return call("POST", "labels", { label: String(m.value) }); });
    },
    removeLabel: function (m) {
      onConversation(function () { return call("DELETE", "labels/" + encodeURIComponent(String(m.value))); });
    }
  };

  window.addEventListener("message", function (event) {
    var m = event.data;
    if (!embedded || event.source !== window.parent || !m || !m.voxsig) return;
    if (m.type === "init") parentOrigin = event.origin;
    else if (event.origin !== parentOrigin) return;
    if (Object.prototype.hasOwnProperty.call(commands, m.type)) commands[m.type](m);
  });

  if (embedded) {
    tell("loaded");
  } else {
    try { state.token = localStorage.getItem("voxsig.token." + websiteToken) || ""; } catch (e) { /* blocked */ }
    // A popout ($chatwoot.popoutChatWindow) names its visitor in the fragment: take it, drop it.
    var handed = new URLSearchParams(location.hash.slice(1));
    if (handed.get("auth_token")) setToken(handed.get("auth_token"));
    if (handed.get("locale")) state.locale = document.documentElement.lang = handed.get("locale");
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    start();
  }
})();
