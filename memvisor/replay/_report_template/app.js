// memvisor report: draws the page from the JSON in #report-data.
//
// Log text reaches the DOM through textContent only (never innerHTML), so no
// message, thought or tool result can turn into markup. The timeline renders one
// page of turns at a time; the chart decimates its series to the pixels it has.
(function () {
  "use strict";

  const D = JSON.parse(document.getElementById("report-data").textContent);
  const EVENTS = D.events; // EVENTS[seq - 1]
  const N = EVENTS.length;
  const SVGNS = "http://www.w3.org/2000/svg";
  const NUM = new Intl.NumberFormat("en-US");
  const OPENERS = new Set(["user_message", "external_event", "agent_message", "timer_fired"]);
  const CLAMP_CHARS = 480;
  const CLAMP_LINES = 6;
  const MAX_DOTS = 600;

  const CATEGORY_LABELS = {
    setup: "setup",
    user: "user messages",
    external: "external events",
    agent: "agent messages",
    timer: "timers",
    thought: "LLM steps",
    call: "function calls",
    result: "function results",
    reply: "replies",
    memory: "memory",
    context: "context",
    error: "errors and limits",
  };
  const TYPE_LABELS = {
    agent_created: "agent created",
    user_message: "user",
    external_event: "external event",
    agent_message: "agent message",
    timer_set: "timer set",
    timer_cancelled: "timer cancelled",
    timer_fired: "timer fired",
    heartbeats_paused: "heartbeats paused",
    llm_responded: "LLM step",
    tool_called: "call",
    tool_returned: "result",
    assistant_message: "reply",
    core_memory_edited: "core memory",
    source_attached: "source attached",
    memory_pressure: "memory pressure",
    context_compacted: "compaction",
    context_rewound: "context rewound",
    step_limited: "step limit",
    error: "error",
  };

  // --- small helpers ----------------------------------------------------------------

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, cls) {
    const node = document.createElementNS(SVGNS, tag);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    if (cls) node.setAttribute("class", cls);
    return node;
  }

  function num(x) {
    return NUM.format(x);
  }

  function stamp(at) {
    const date = new Date(at * 1000);
    return isNaN(date) ? String(at) : date.toISOString().slice(0, 19).replace("T", " ");
  }

  function clock(at) {
    return stamp(at).slice(11);
  }

  function plural(n, word) {
    return num(n) + " " + word + (n === 1 ? "" : "s");
  }

  function pct(tokens) {
    return Math.round((100 * tokens) / Math.max(D.context_window, 1)) + "%";
  }

  function categoryOf(event) {
    return D.categories[event.type] || "setup";
  }

  function eventAt(seq) {
    return EVENTS[seq - 1];
  }

  // The index of the last item whose key is <= value, or -1.
  function lastAtOrBefore(items, value, key) {
    let lo = 0;
    let hi = items.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (key(items[mid]) <= value) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  // Text that folds when long: a "show all" button unfolds it.
  function textBlock(text, cls) {
    const wrap = el("div");
    const body = el("div", "text" + (cls ? " " + cls : ""), text);
    wrap.append(body);
    const lines = text.split("\n").length;
    if (text.length > CLAMP_CHARS || lines > CLAMP_LINES) {
      body.classList.add("clamped");
      const more = el("button", "more", "show all (" + plural(text.length, "character") + ")");
      more.type = "button";
      more.addEventListener("click", function (ev) {
        ev.stopPropagation();
        const folded = body.classList.toggle("clamped");
        more.textContent = folded ? "show all (" + plural(text.length, "character") + ")" : "show less";
      });
      wrap.append(more);
    }
    return wrap;
  }

  const JSON_TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

  // Pretty JSON with coloured tokens, built as text nodes and spans.
  function jsonPre(value) {
    const pre = el("pre", "json");
    const text = JSON.stringify(value, null, 2);
    let last = 0;
    for (const match of text.matchAll(JSON_TOKEN)) {
      pre.append(document.createTextNode(text.slice(last, match.index)));
      if (match[1] !== undefined) {
        pre.append(el("span", match[2] ? "j-key" : "j-str", match[1]));
        if (match[2]) pre.append(document.createTextNode(match[2]));
      } else if (match[3] !== undefined) {
        pre.append(el("span", "j-lit", match[3]));
      } else {
        pre.append(el("span", "j-num", match[4]));
      }
      last = match.index + match[0].length;
    }
    pre.append(document.createTextNode(text.slice(last)));
    return pre;
  }

  // Raw JSON text (a call's arguments, a result): pretty when it parses, else as written.
  function jsonOrText(raw, note) {
    try {
      const value = JSON.parse(raw);
      if (value !== null && typeof value === "object") return foldable(jsonPre(value), raw.length);
    } catch (err) {
      if (note) {
        const wrap = el("div");
        wrap.append(el("div", "meta", note), textBlock(raw, "mono"));
        return wrap;
      }
    }
    return textBlock(raw);
  }

  function foldable(node, size) {
    if (size <= CLAMP_CHARS * 2) return node;
    const wrap = el("div");
    node.classList.add("clamped");
    const more = el("button", "more", "show all");
    more.type = "button";
    more.addEventListener("click", function (ev) {
      ev.stopPropagation();
      more.textContent = node.classList.toggle("clamped") ? "show all" : "show less";
    });
    wrap.append(node, more);
    return wrap;
  }

  function details(summary, child) {
    const box = el("details");
    box.append(el("summary", null, summary), child);
    box.addEventListener("click", function (ev) {
      ev.stopPropagation();
    });
    return box;
  }

  function keyValues(pairs) {
    const list = el("dl", "kv");
    for (const [key, value] of pairs) {
      if (value === undefined || value === null || value === "") continue;
      list.append(el("dt", null, key), el("dd", null, value));
    }
    return list;
  }

  function meta(parts) {
    const row = el("div", "meta");
    for (const part of parts) if (part) row.append(el("span", null, part));
    return row;
  }

  function pill(text, cls) {
    return el("span", "pill" + (cls ? " " + cls : ""), text);
  }

  function jump(seq, text) {
    const link = el("a", "jump", text || "#" + seq);
    link.href = "#seq=" + seq;
    link.addEventListener("click", function (ev) {
      ev.preventDefault();
      ev.stopPropagation();
      select(seq, { scroll: true });
    });
    return link;
  }

  // --- one renderer per event type: (event, body, head) --------------------------

  const RENDER = {
    agent_created(e, body) {
      body.append(
        keyValues([
          ["model", e.model || "(none)"],
          ["context window", num(e.context_window ?? 8192) + " tokens"],
          ["forked from", e.forked_from],
          ["tags", (e.tags || []).join(", ")],
          ["blocks", (e.blocks || []).map((b) => b.label + " (" + num((b.value || "").length) + "/" + num(b.limit ?? 2000) + ")").join(", ") || "(none)"],
        ]),
      );
      if (e.system) body.append(details("system prompt (" + plural(e.system.length, "character") + ")", el("div", "text", e.system)));
    },
    user_message(e, body, head) {
      if (e.name) head.append(pill(e.name));
      body.append(textBlock(e.text, "user"));
    },
    external_event(e, body, head) {
      head.append(pill(e.source));
      if (e.text) body.append(textBlock(e.text));
      if (e.payload !== undefined && e.payload !== null) body.append(foldable(jsonPre(e.payload), JSON.stringify(e.payload).length));
      body.append(meta([e.key && "key " + e.key, e.inbox != null && "inbox #" + e.inbox]));
    },
    agent_message(e, body, head) {
      head.append(el("span", "fn", "from " + e.sender));
      body.append(textBlock(e.text));
      body.append(meta([e.request_id && "asks for a reply (" + e.request_id + ")", e.in_reply_to && "in reply to " + e.in_reply_to]));
    },
    timer_set(e, body, head) {
      head.append(el("span", "fn", e.timer_id));
      if (e.text) body.append(textBlock(e.text));
      body.append(meta(["due " + stamp(e.due) + " UTC", e.every != null && "every " + num(e.every) + " s", e.cron && "cron " + e.cron]));
    },
    timer_cancelled(e, body, head) {
      head.append(el("span", "fn", e.timer_id));
    },
    timer_fired(e, body, head) {
      head.append(el("span", "fn", e.timer_id));
      if (e.text) body.append(textBlock(e.text));
    },
    heartbeats_paused(e, body) {
      body.append(meta(["timed heartbeats paused until " + stamp(e.until) + " UTC"]));
    },
    llm_responded(e, body) {
      if (e.content) body.append(textBlock(e.content, "thought"));
      const calls = e.tool_calls || [];
      if (calls.length) {
        const chips = el("div", "chips");
        for (const call of calls) {
          const chip = el("span", "chip", "→ " + call.name);
          chip.title = call.arguments;
          chips.append(chip);
        }
        body.append(chips);
      }
      if (!e.content && !calls.length) body.append(el("div", "muted", "(no thoughts, no calls)"));
      const usage = e.usage || {};
      body.append(
        meta([
          usage.prompt_tokens ? num(usage.prompt_tokens) + " prompt tokens (" + pct(usage.prompt_tokens) + ")" : "no usage reported",
          usage.completion_tokens && num(usage.completion_tokens) + " completion",
          e.finish_reason && "finish: " + e.finish_reason,
          e.latency && e.latency.toFixed(2) + " s",
          e.model,
        ]),
      );
    },
    tool_called(e, body, head) {
      head.append(el("span", "fn", e.name));
      body.append(jsonOrText(e.arguments, "arguments are not valid JSON:"));
    },
    tool_returned(e, body, head) {
      head.append(el("span", "fn", e.name), pill(e.status, e.status === "ok" ? "ok" : "bad"));
      if (e.heartbeat) head.append(pill("heartbeat"));
      body.append(jsonOrText(e.content));
    },
    assistant_message(e, body, head) {
      if (e.to) head.append(el("span", "fn", "to " + e.to));
      body.append(textBlock(e.text, "bubble"));
      if (e.request_id) body.append(meta(["asks for a reply (" + e.request_id + ")"]));
    },
    step_limited(e, body) {
      body.append(el("div", null, "The turn was cut after " + plural(e.steps, "chained step") + "."));
    },
    error(e, body, head) {
      head.append(pill(e.kind, "bad"));
      body.append(textBlock(e.message));
    },
    core_memory_edited(e, body, head) {
      head.append(el("span", "fn", e.block), pill(e.op));
      if (e.origin) head.append(pill("from " + e.origin));
      body.append(textBlock(e.value || "(empty)"));
    },
    source_attached(e, body, head) {
      head.append(el("span", "fn", e.source));
      body.append(meta([plural(e.passages || 0, "passage") + " searchable in archival memory"]));
    },
    memory_pressure(e, body) {
      body.append(el("div", null, num(e.prompt_tokens) + " of " + num(e.context_window) + " tokens (" + Math.round((100 * e.prompt_tokens) / Math.max(e.context_window, 1)) + "%): the agent was told to save what matters."));
    },
    context_compacted(e, body) {
      const line = el("div");
      line.append(plural(e.evicted, "message") + " through ", jump(e.through_seq), " left the window");
      if (e.tokens_before || e.tokens_after) line.append(": " + num(e.tokens_before || 0) + " → " + num(e.tokens_after || 0) + " tokens");
      body.append(line, details("summary (" + plural(e.summary.length, "character") + ")", el("div", "text", e.summary)));
    },
    context_rewound(e, body) {
      const line = el("div");
      line.append("Messages from ", jump(e.from_seq), " on left the window (they stay in recall).");
      body.append(line);
    },
  };

  // --- header -------------------------------------------------------------------

  const SETUP_TURN = N > 0 && !OPENERS.has(EVENTS[0].type);
  const COUNTS = {};
  for (const event of EVENTS) {
    const cat = categoryOf(event);
    COUNTS[cat] = (COUNTS[cat] || 0) + 1;
  }

  function turnNumber(index) {
    return SETUP_TURN ? index : index + 1;
  }

  function renderHeader() {
    document.getElementById("agent-name").textContent = D.agent;
    const box = document.getElementById("summary");
    const inputs = D.turns.length - (SETUP_TURN ? 1 : 0);
    const stats = [
      ["model", D.model || "(none)"],
      ["window", num(D.context_window) + " tokens"],
      ["events", num(N)],
      ["turns", num(inputs)],
      ["LLM steps", num(D.points.length)],
      ["compactions", num(D.compactions.length)],
      ["pressure alerts", num(D.pressures.length)],
      ["errors", num(COUNTS.error || 0)],
    ];
    const first = stamp(EVENTS[0].at);
    const last = stamp(EVENTS[N - 1].at);
    stats.push(first === last ? ["at", first + " UTC"] : ["from", first + " to " + last + " UTC"]);
    for (const [label, value] of stats) {
      const stat = el("span", "stat", label + " ");
      stat.append(el("b", null, value));
      box.append(stat);
    }
  }

  // --- the chart --------------------------------------------------------------------

  const chart = {
    box: document.getElementById("chart"),
    tip: document.getElementById("chart-tip"),
    zoomed: false,
    root: null,
    lo: 1,
    hi: 1,
    x: null,
    y: null,
    seqAt: null,
    width: 0,
    marks: [],
    cursor: null,
    band: null,
    hover: null,
    hoverDot: null,
  };
  const DENSE_LINES = 40; // compactions in view past which only their markers are drawn
  const MARK_GAP = 5; // pixels between two drawn markers of one kind

  function fillOf(point) {
    return point.reported ?? point.estimated;
  }

  function inView(seq) {
    return seq >= chart.lo && seq <= chart.hi;
  }

  // The marks the pointer can pick in view, in seq order: LLM calls, compactions, alerts.
  function buildMarks() {
    const marks = [];
    for (const p of D.points) if (inView(p.seq) && fillOf(p) != null) marks.push({ seq: p.seq, kind: "step", tokens: fillOf(p), point: p });
    for (const c of D.compactions) if (inView(c.seq)) marks.push({ seq: c.seq, kind: "compaction", tokens: c.tokens_after || c.tokens_before, mark: c });
    for (const p of D.pressures) if (inView(p.seq)) marks.push({ seq: p.seq, kind: "pressure", tokens: p.prompt_tokens, mark: p });
    marks.sort((a, b) => a.seq - b.seq);
    return marks;
  }

  function niceStep(span, count) {
    const raw = span / Math.max(count, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-9))));
    const r = raw / mag;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
  }

  function shortTokens(v) {
    if (v >= 1e6) return +(v / 1e6).toFixed(1) + "M";
    if (v >= 1000) return +(v / 1000).toFixed(1) + "k";
    return String(v);
  }

  // The points of one series in view, with one more on each side so the line runs to the edges.
  function pointsInView(key) {
    const out = [];
    let before = null;
    let after = null;
    for (const p of D.points) {
      if (p[key] === null || p[key] === undefined) continue;
      if (p.seq < chart.lo) before = p;
      else if (p.seq <= chart.hi) out.push(p);
      else if (!after) after = p;
    }
    if (before) out.unshift(before);
    if (after) out.push(after);
    return out;
  }

  // Min/max per pixel column, so a series of any length is a path of at most 4 points a column.
  function seriesPath(key) {
    let d = "";
    let column = null;
    let first = 0;
    let low = 0;
    let high = 0;
    let last = 0;
    let firstX = null;
    let lastX = null;
    function flush() {
      if (column === null) return;
      for (const v of [first, low, high, last]) d += (d ? "L" : "M") + column + "," + chart.y(v).toFixed(1);
    }
    for (const p of pointsInView(key)) {
      const v = p[key];
      const x = Math.round(chart.x(p.seq));
      if (x !== column) {
        flush();
        column = x;
        first = low = high = last = v;
      } else {
        low = Math.min(low, v);
        high = Math.max(high, v);
        last = v;
      }
      if (firstX === null) firstX = x;
      lastX = x;
    }
    flush();
    return { d: d, firstX: firstX, lastX: lastX };
  }

  function drawAxes(root, w, h, m, ymax) {
    const axis = svg("g", {}, "axis");
    const ystep = niceStep(ymax, 5);
    for (let v = 0; v <= ymax + 1e-9; v += ystep) {
      const y = chart.y(v);
      axis.append(svg("line", { x1: m.l, x2: w - m.r, y1: y, y2: y }, "chart-grid"));
      const label = svg("text", { x: m.l - 8, y: y + 4, "text-anchor": "end" });
      label.textContent = shortTokens(Math.round(v));
      axis.append(label);
    }
    const span = Math.max(chart.hi - chart.lo, 1);
    const xstep = Math.max(1, niceStep(span, Math.max(2, Math.floor((w - m.l - m.r) / 90))));
    for (let s = Math.ceil(chart.lo / xstep) * xstep; s <= chart.hi; s += xstep) {
      const x = chart.x(s);
      axis.append(svg("line", { x1: x, x2: x, y1: h - m.b, y2: h - m.b + 4 }, "chart-axis"));
      const label = svg("text", { x: x, y: h - m.b + 16, "text-anchor": "middle" });
      label.textContent = num(s);
      axis.append(label);
    }
    axis.append(svg("line", { x1: m.l, x2: w - m.r, y1: h - m.b, y2: h - m.b }, "chart-axis"));
    const xname = svg("text", { x: w - m.r, y: h - 2, "text-anchor": "end" }, "chart-label");
    xname.textContent = "event seq";
    const yname = svg("text", { x: m.l - 8, y: m.t - 6, "text-anchor": "end" }, "chart-label");
    yname.textContent = "tokens";
    axis.append(xname, yname);
    root.append(axis);
  }

  const THRESHOLDS = [
    ["flush", D.flush_fraction],
    ["warning", D.warning_fraction],
  ];

  function drawThresholds(root, w, m) {
    for (const [name, fraction] of THRESHOLDS) {
      const y = chart.y(Math.round(fraction * D.context_window));
      root.append(svg("line", { x1: m.l, x2: w - m.r, y1: y, y2: y }, "chart-threshold " + name));
    }
  }

  // Drawn last, over the series and the marks, so a dense log never hides them.
  function drawThresholdLabels(root, w, m) {
    for (const [name, fraction] of THRESHOLDS) {
      const tokens = Math.round(fraction * D.context_window);
      const text = name + " " + Math.round(fraction * 100) + "% · " + num(tokens);
      const y = chart.y(tokens);
      const width = text.length * 6.6 + 8; // about 11px bold; the svg is not laid out yet
      root.append(svg("rect", { x: w - m.r - width, y: y - 17, width: width, height: 14, rx: 3 }, "chart-threshold-box"));
      const label = svg("text", { x: w - m.r - 4, y: y - 6, "text-anchor": "end" }, "chart-threshold-label " + name);
      label.textContent = text;
      root.append(label);
    }
  }

  function triangle(x, y, size, down) {
    const tip = down ? y + size : y - size;
    return "M" + (x - size * 0.75) + "," + y + "L" + (x + size * 0.75) + "," + y + "L" + x + "," + tip + "Z";
  }

  // Each compaction: a marker on top; when they are few, a dotted line and the drop it made.
  function drawCompactions(root, h, m) {
    const shown = D.compactions.filter((c) => inView(c.seq));
    const detailed = shown.length <= DENSE_LINES;
    let lastX = -Infinity;
    for (const c of shown) {
      const x = chart.x(c.seq);
      if (!detailed && x - lastX < MARK_GAP) continue;
      lastX = x;
      const g = svg("g", { "data-seq": c.seq }, "chart-compaction");
      if (detailed) {
        g.append(svg("line", { x1: x, x2: x, y1: m.t, y2: h - m.b }));
        if (c.tokens_before > 0 && c.tokens_before > c.tokens_after) {
          const bottom = chart.y(c.tokens_after);
          g.append(svg("line", { x1: x, x2: x, y1: chart.y(c.tokens_before), y2: bottom - 6 }, "drop"));
          g.append(svg("path", { d: triangle(x, bottom - 7, 7, true) }));
        }
      }
      g.append(svg("path", { d: triangle(x, m.t - 2, 8, true) }));
      root.append(g);
    }
  }

  function drawPressures(root) {
    let lastX = -Infinity;
    for (const p of D.pressures) {
      if (!inView(p.seq)) continue;
      const x = chart.x(p.seq);
      if (x - lastX < MARK_GAP) continue;
      lastX = x;
      root.append(svg("path", { d: triangle(x, chart.y(p.prompt_tokens) + 3, 8, false), "data-seq": p.seq }, "chart-pressure"));
    }
  }

  function drawSeries(root, h, m) {
    const reported = seriesPath("reported");
    const estimated = seriesPath("estimated");
    const clip = "url(#plot-clip)";
    if (reported.d) {
      const base = (h - m.b).toFixed(1);
      root.append(svg("path", { d: reported.d + "L" + reported.lastX + "," + base + "L" + reported.firstX + "," + base + "Z", "clip-path": clip }, "chart-area"));
    }
    if (estimated.d) root.append(svg("path", { d: estimated.d, "clip-path": clip }, "chart-series estimated"));
    if (reported.d) root.append(svg("path", { d: reported.d, "clip-path": clip }, "chart-series reported"));
    const dots = D.points.filter((p) => inView(p.seq) && fillOf(p) != null);
    if (dots.length > MAX_DOTS) return;
    for (const p of dots) {
      const kind = p.reported != null ? "reported" : "estimated";
      root.append(svg("circle", { cx: chart.x(p.seq), cy: chart.y(fillOf(p)), r: 3.5, "data-seq": p.seq }, "chart-point " + kind));
    }
  }

  function chartScale(w, h, m) {
    let ymax = Math.max(D.context_window, D.flush_fraction * D.context_window);
    for (const p of D.points) ymax = Math.max(ymax, p.reported || 0, p.estimated || 0);
    for (const c of D.compactions) ymax = Math.max(ymax, c.tokens_before);
    ymax *= 1.06;
    const page = D.pages[Math.max(pageIndex, 0)];
    chart.lo = chart.zoomed && page ? page.first_seq : 1;
    chart.hi = chart.zoomed && page ? page.last_seq : N;
    const span = Math.max(chart.hi - chart.lo, 1);
    const left = chart.lo === chart.hi ? m.l + (w - m.l - m.r) / 2 : m.l;
    chart.x = (seq) => left + ((seq - chart.lo) / span) * (w - m.l - m.r);
    chart.seqAt = (px) => chart.lo + ((px - m.l) / (w - m.l - m.r)) * span;
    chart.y = (v) => h - m.b - (v / ymax) * (h - m.t - m.b);
    return ymax;
  }

  function drawChart() {
    const box = chart.box;
    if (chart.root) chart.root.remove();
    const w = Math.max(360, box.clientWidth);
    const h = Math.max(180, box.clientHeight);
    const m = { l: 52, r: 12, t: 18, b: 30 };
    const ymax = chartScale(w, h, m);
    const root = svg("svg", { viewBox: "0 0 " + w + " " + h, role: "img", "aria-label": "context window fill over the log" });
    const defs = svg("defs");
    const clip = svg("clipPath", { id: "plot-clip" });
    clip.append(svg("rect", { x: m.l, y: 0, width: w - m.l - m.r, height: h - m.b }));
    defs.append(clip);
    chart.band = svg("rect", { x: m.l, y: m.t, width: 0, height: h - m.t - m.b }, "chart-page");
    root.append(defs, chart.band);
    drawAxes(root, w, h, m, ymax);
    drawThresholds(root, w, m);
    drawSeries(root, h, m);
    drawCompactions(root, h, m);
    drawPressures(root);
    drawThresholdLabels(root, w, m);
    chart.marks = buildMarks();
    if (!chart.marks.length) {
      const empty = svg("text", { x: (w + m.l) / 2, y: h / 2, "text-anchor": "middle" }, "chart-empty");
      empty.textContent = D.points.length ? "No LLM calls on this page." : "No LLM calls in this log yet.";
      root.append(empty);
    }
    chart.hover = svg("line", { x1: 0, x2: 0, y1: m.t, y2: h - m.b, visibility: "hidden" }, "chart-hover");
    chart.hoverDot = svg("circle", { r: 6, visibility: "hidden" }, "chart-hover-dot");
    chart.cursor = svg("line", { x1: 0, x2: 0, y1: m.t - 4, y2: h - m.b, visibility: "hidden" }, "chart-cursor");
    root.append(chart.hover, chart.hoverDot, chart.cursor);
    const overlay = svg("rect", { x: m.l - 6, y: 0, width: w - m.l - m.r + 12, height: h, fill: "transparent" });
    overlay.style.cursor = "crosshair";
    overlay.addEventListener("mousemove", onChartMove);
    overlay.addEventListener("mouseleave", hideHover);
    overlay.addEventListener("click", onChartClick);
    root.append(overlay);
    box.insertBefore(root, chart.tip);
    chart.root = root;
    chart.width = w;
    updateChartCursor();
    updateChartBand();
  }

  function pointerAt(ev) {
    const rect = chart.root.getBoundingClientRect();
    const scale = chart.width / rect.width;
    return { x: (ev.clientX - rect.left) * scale, y: (ev.clientY - rect.top) * scale };
  }

  function nearestMark(px) {
    const marks = chart.marks;
    if (!marks.length) return null;
    const at = lastAtOrBefore(marks, chart.seqAt(px), (mark) => mark.seq);
    let best = null;
    let bestDistance = Infinity;
    for (let i = Math.max(0, at - 2); i <= Math.min(marks.length - 1, at + 3); i++) {
      const distance = Math.abs(chart.x(marks[i].seq) - px);
      if (distance < bestDistance) {
        best = marks[i];
        bestDistance = distance;
      }
    }
    return bestDistance <= 40 ? best : null;
  }

  function onChartMove(ev) {
    const mark = nearestMark(pointerAt(ev).x);
    if (!mark) return hideHover();
    const x = chart.x(mark.seq);
    chart.hover.setAttribute("x1", x);
    chart.hover.setAttribute("x2", x);
    chart.hover.setAttribute("visibility", "visible");
    chart.hoverDot.setAttribute("cx", x);
    chart.hoverDot.setAttribute("cy", chart.y(mark.tokens || 0));
    chart.hoverDot.setAttribute("visibility", "visible");
    showTip(mark, ev);
  }

  function hideHover() {
    chart.hover.setAttribute("visibility", "hidden");
    chart.hoverDot.setAttribute("visibility", "hidden");
    chart.tip.hidden = true;
  }

  function tipLines(mark) {
    const event = eventAt(mark.seq);
    const head = "#" + mark.seq + " · " + TYPE_LABELS[event.type] + " · " + stamp(event.at);
    if (mark.kind === "compaction") {
      const c = mark.mark;
      return [head, plural(c.evicted, "message") + " evicted (through #" + c.through_seq + ")", num(c.tokens_before) + " → " + num(c.tokens_after) + " tokens"];
    }
    if (mark.kind === "pressure") return [head, num(mark.tokens) + " tokens (" + pct(mark.tokens) + "): past the warning line"];
    const p = mark.point;
    const lines = [head];
    if (p.reported != null) lines.push("reported: " + num(p.reported) + " tokens (" + pct(p.reported) + ")");
    if (p.estimated != null) lines.push("estimated: " + num(p.estimated) + " tokens");
    const calls = (event.tool_calls || []).map((c) => c.name);
    if (calls.length) lines.push("calls " + calls.join(", "));
    return lines;
  }

  function showTip(mark, ev) {
    const tip = chart.tip;
    tip.replaceChildren();
    tipLines(mark).forEach((line, i) => tip.append(i ? el("div", null, line) : el("b", null, line)));
    tip.hidden = false;
    const box = chart.box.getBoundingClientRect();
    let left = ev.clientX - box.left + 14;
    if (left + tip.offsetWidth > box.width) left = ev.clientX - box.left - tip.offsetWidth - 14;
    tip.style.left = Math.max(0, left) + "px";
    tip.style.top = Math.max(0, ev.clientY - box.top - tip.offsetHeight - 10) + "px";
  }

  function onChartClick(ev) {
    const mark = nearestMark(pointerAt(ev).x);
    if (mark) select(mark.seq, { scroll: true });
  }

  function updateChartCursor() {
    if (!chart.cursor || selected === null) return;
    const x = chart.x(selected);
    chart.cursor.setAttribute("x1", x);
    chart.cursor.setAttribute("x2", x);
    chart.cursor.setAttribute("visibility", inView(selected) ? "visible" : "hidden");
  }

  // The current page's span on the whole-log chart (none when zoomed in on it, or on one page).
  function updateChartBand() {
    if (!chart.band || pageIndex < 0) return;
    const visible = !chart.zoomed && D.pages.length > 1;
    chart.band.setAttribute("visibility", visible ? "visible" : "hidden");
    if (!visible) return;
    const page = D.pages[pageIndex];
    const x1 = chart.x(page.first_seq);
    const x2 = chart.x(page.last_seq);
    chart.band.setAttribute("x", Math.min(x1, x2 - 2));
    chart.band.setAttribute("width", Math.max(2, x2 - x1));
  }

  function renderZoom() {
    const box = document.getElementById("chart-zoom");
    if (D.pages.length < 2) return;
    const choices = [
      [false, "whole log"],
      [true, "this page"],
    ];
    for (const [zoomed, text] of choices) {
      const button = el("button", zoomed === chart.zoomed ? "on" : null, text);
      button.type = "button";
      button.setAttribute("aria-pressed", String(zoomed === chart.zoomed));
      button.addEventListener("click", () => {
        chart.zoomed = zoomed;
        for (const other of box.children) {
          other.classList.toggle("on", other === button);
          other.setAttribute("aria-pressed", String(other === button));
        }
        drawChart();
      });
      box.append(button);
    }
  }

  function renderChartLegend() {
    const legend = document.getElementById("chart-legend");
    const swatch = (draw) => {
      const icon = svg("svg", { viewBox: "0 0 22 12" });
      draw(icon);
      return icon;
    };
    const line = (cls) => swatch((s) => s.append(svg("line", { x1: 1, x2: 21, y1: 6, y2: 6 }, cls)));
    const items = [
      [line("chart-series reported"), "reported by the server (prompt_tokens)"],
      [line("chart-series estimated"), "local estimate of the prompt"],
      [line("chart-threshold warning"), "warning " + Math.round(D.warning_fraction * 100) + "%"],
      [line("chart-threshold flush"), "flush " + Math.round(D.flush_fraction * 100) + "%"],
      [swatch((s) => s.append(svg("path", { d: triangle(11, 2, 8, true) }, "chart-compaction-icon"))), "compaction"],
      [swatch((s) => s.append(svg("path", { d: triangle(11, 10, 8, false) }, "chart-pressure"))), "memory-pressure alert"],
    ];
    for (const [icon, text] of items) {
      const item = el("span");
      item.append(icon, text);
      legend.append(item);
    }
    const note = document.getElementById("chart-note");
    const missing = D.points.filter((p) => p.reported == null).length;
    let text = "One point per LLM call, at its event seq; window " + num(D.context_window) + " tokens.";
    text += " The local estimate counts the compiled messages only (not the function schemas)";
    text += D.estimate_stride > 1 ? ", sampled on every " + num(D.estimate_stride) + "th call." : ".";
    if (missing) text += " " + plural(missing, "call") + " reported no usage: the estimate stands in for " + (missing === 1 ? "it." : "them.");
    text += " Hover for details; click to select.";
    note.textContent = text;
  }

  // --- the timeline -------------------------------------------------------------

  let pageIndex = -1;
  let selected = null;
  const hidden = new Set();
  const timeline = document.getElementById("timeline");

  function pageOf(seq) {
    return Math.max(0, lastAtOrBefore(D.pages, seq, (p) => p.first_seq));
  }

  function renderItem(event) {
    const cat = categoryOf(event);
    const item = el("article", "tl-item cat-" + cat);
    item.dataset.seq = event.seq;
    item.dataset.type = event.type;
    item.hidden = hidden.has(cat);
    const gutter = el("div", "tl-gutter");
    const seqLink = el("a", "seq", "#" + event.seq);
    seqLink.href = "#seq=" + event.seq;
    gutter.append(seqLink, el("span", null, clock(event.at)));
    const main = el("div", "tl-main");
    const head = el("div", "tl-head");
    head.append(el("span", "kind", TYPE_LABELS[event.type] || event.type));
    const body = el("div", "tl-body");
    const render = RENDER[event.type];
    if (render) render(event, body, head);
    else body.append(el("pre", "json unknown", JSON.stringify(event, null, 2)));
    if (event.cause != null) {
      const cause = jump(event.cause, "↳ #" + event.cause);
      cause.className = "cause";
      cause.title = "answers event #" + event.cause + " (" + (TYPE_LABELS[eventAt(event.cause)?.type] || "?") + ")";
      head.append(cause);
    }
    main.append(head, body);
    item.append(gutter, main);
    return item;
  }

  function renderTurnHeader(index, fromSeq) {
    const turn = D.turns[index];
    const first = eventAt(turn.first_seq);
    const number = turnNumber(index);
    const title = number === 0 ? "Setup" : "Turn " + num(number);
    const header = el("div", "tl-turn", title + (fromSeq > turn.first_seq ? " (continued)" : ""));
    let steps = 0;
    for (let s = turn.first_seq; s <= turn.last_seq; s++) if (EVENTS[s - 1].type === "llm_responded") steps++;
    header.append(el("span", null, stamp(first.at) + " UTC · " + plural(turn.last_seq - turn.first_seq + 1, "event") + " · " + plural(steps, "LLM step")));
    return header;
  }

  function renderPage(index) {
    pageIndex = index;
    const page = D.pages[index];
    const items = document.createDocumentFragment();
    for (let t = page.first_turn; t <= page.last_turn; t++) {
      const turn = D.turns[t];
      const from = Math.max(turn.first_seq, page.first_seq);
      const to = Math.min(turn.last_seq, page.last_seq);
      items.append(renderTurnHeader(t, from));
      for (let s = from; s <= to; s++) items.append(renderItem(EVENTS[s - 1]));
    }
    timeline.replaceChildren(items);
    timeline.scrollTop = 0;
    renderPager();
    if (chart.zoomed) drawChart();
    else updateChartBand();
  }

  function pagerButton(text, title, target) {
    const button = el("button", null, text);
    button.type = "button";
    button.title = title;
    button.disabled = target < 0 || target >= D.pages.length || target === pageIndex;
    button.addEventListener("click", () => select(D.pages[target].first_seq, { scroll: true, top: true }));
    return button;
  }

  function renderPager() {
    const pager = document.getElementById("pager");
    const page = D.pages[pageIndex];
    const first = turnNumber(page.first_turn);
    const last = turnNumber(page.last_turn);
    let turns = first === last ? "turn " + num(first) : "turns " + num(Math.max(first, 1)) + "–" + num(last);
    if (first === 0) turns = last === 0 ? "setup" : "setup, " + (last === 1 ? "turn 1" : turns);
    const where = el("span", "where", "page " + num(pageIndex + 1) + " of " + num(D.pages.length) + " · " + turns + " · #" + num(page.first_seq) + "–" + num(page.last_seq));
    const input = el("input");
    input.type = "number";
    input.min = 1;
    input.max = N;
    input.placeholder = "seq";
    input.title = "go to an event by its seq";
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && input.value) select(Number(input.value), { scroll: true });
    });
    pager.replaceChildren(
      pagerButton("«", "first page", 0),
      pagerButton("‹", "previous page", pageIndex - 1),
      where,
      pagerButton("›", "next page", pageIndex + 1),
      pagerButton("»", "last page", D.pages.length - 1),
      input,
    );
  }

  function renderFilters() {
    const box = document.getElementById("filters");
    for (const cat of Object.keys(CATEGORY_LABELS)) {
      if (!COUNTS[cat]) continue;
      const button = el("button", "cat-" + cat);
      button.type = "button";
      button.title = "show or hide " + CATEGORY_LABELS[cat];
      button.append(el("span", "swatch"), CATEGORY_LABELS[cat], el("span", "count", num(COUNTS[cat])));
      button.addEventListener("click", () => {
        if (hidden.has(cat)) hidden.delete(cat);
        else hidden.add(cat);
        button.classList.toggle("off", hidden.has(cat));
        for (const item of timeline.querySelectorAll(".tl-item.cat-" + cat)) item.hidden = hidden.has(cat);
      });
      box.append(button);
    }
  }

  timeline.addEventListener("click", (ev) => {
    const item = ev.target.closest(".tl-item");
    if (!item || ev.target.closest("button, details, a.jump, a.cause")) return;
    ev.preventDefault();
    select(Number(item.dataset.seq), { scroll: false });
  });

  // --- the side panel: the selected event and core memory at it ---------------------

  const LABELS = [];
  const CHANGES = new Map();
  for (const change of D.memory) {
    if (!CHANGES.has(change.label)) {
      CHANGES.set(change.label, []);
      LABELS.push(change.label);
    }
    CHANGES.get(change.label).push(change);
  }

  function memoryAt(seq) {
    const blocks = [];
    for (const label of LABELS) {
      const changes = CHANGES.get(label);
      const i = lastAtOrBefore(changes, seq, (c) => c.seq);
      if (i >= 0 && changes[i].block) blocks.push(changes[i]);
    }
    return blocks;
  }

  // The fill at seq: the last LLM call at or before it, unless a compaction came after.
  function fillAt(seq) {
    const p = lastAtOrBefore(D.points, seq, (x) => x.seq);
    const c = lastAtOrBefore(D.compactions, seq, (x) => x.seq);
    const point = p >= 0 ? D.points[p] : null;
    const compaction = c >= 0 ? D.compactions[c] : null;
    if (compaction && (!point || compaction.seq > point.seq) && compaction.tokens_after > 0) {
      return { tokens: compaction.tokens_after, source: "after the compaction at", seq: compaction.seq };
    }
    if (!point) return null;
    return { tokens: fillOf(point), source: point.reported != null ? "reported for the LLM call" : "estimated for the LLM call", seq: point.seq };
  }

  function renderSelected(seq) {
    const card = document.getElementById("selected-card");
    const event = eventAt(seq);
    const cat = categoryOf(event);
    const title = el("div", "sel-title cat-" + cat);
    title.append(el("span", "kind", TYPE_LABELS[event.type]), el("span", "mono", "#" + seq), el("span", "muted", stamp(event.at) + " UTC"));
    const turn = lastAtOrBefore(D.turns, seq, (t) => t.first_seq);
    const number = turnNumber(turn);
    const nodes = [el("h2", null, "Selected event"), title, el("div", "muted", number === 0 ? "setup, before the first input" : "turn " + num(number))];
    const fill = fillAt(seq);
    if (fill) {
      const line = el("div");
      line.append("context: ", el("b", null, num(fill.tokens) + " tokens"), " (" + pct(fill.tokens) + " of " + num(D.context_window) + "), " + fill.source + " ", jump(fill.seq));
      const gauge = el("div", "gauge");
      const ratio = fill.tokens / Math.max(D.context_window, 1);
      if (ratio > D.flush_fraction) gauge.classList.add("over");
      else if (ratio > D.warning_fraction) gauge.classList.add("warn");
      const bar = el("div");
      bar.style.width = Math.min(100, 100 * ratio).toFixed(1) + "%";
      gauge.append(bar);
      nodes.push(gauge, line);
    }
    const nav = el("div", "sel-nav");
    const prev = el("button", null, "← previous event");
    prev.type = "button";
    prev.disabled = seq <= 1;
    prev.addEventListener("click", () => select(seq - 1, { scroll: true }));
    const next = el("button", null, "next event →");
    next.type = "button";
    next.disabled = seq >= N;
    next.addEventListener("click", () => select(seq + 1, { scroll: true }));
    nav.append(prev, next);
    nodes.push(nav);
    card.replaceChildren(...nodes);
  }

  function renderBlock(change, seq) {
    const block = change.block;
    const box = el("div", "mem-block" + (change.seq === seq ? " changed" : ""));
    box.dataset.label = block.label;
    const head = el("div", "mem-head");
    head.append(el("span", "mem-label", block.label));
    if (block.read_only) head.append(pill("read-only"));
    if (block.shared) head.append(pill("shared: " + block.shared));
    if (change.seq === seq) head.append(pill("changed here", "ok"));
    head.append(el("span", "mem-chars", num(block.value.length) + " / " + num(block.limit) + " chars"));
    const bar = el("div", "mem-bar");
    const fill = el("div");
    fill.style.width = Math.min(100, (100 * block.value.length) / Math.max(block.limit, 1)).toFixed(1) + "%";
    bar.append(fill);
    const value = el("div", "mem-value" + (block.value ? "" : " empty"), block.value || "(empty)");
    const foot = el("div", "mem-foot");
    foot.append(eventAt(change.seq).type === "agent_created" ? "as created at " : "last changed at ", jump(change.seq));
    box.append(head, bar, value, foot);
    return box;
  }

  function renderMemory(seq) {
    const card = document.getElementById("memory-card");
    const heading = el("h2", null, "Core memory");
    heading.append(el("small", null, "as it was at #" + seq));
    const nodes = [heading];
    const blocks = memoryAt(seq);
    if (!blocks.length) nodes.push(el("div", "muted", "(no blocks)"));
    for (const change of blocks) nodes.push(renderBlock(change, seq));
    const c = lastAtOrBefore(D.compactions, seq, (x) => x.seq);
    if (c >= 0) {
      const compaction = eventAt(D.compactions[c].seq);
      const heading2 = el("h2", null, "Summary");
      heading2.append(el("small", null, "of earlier conversation, since #" + compaction.seq));
      nodes.push(heading2, textBlock(compaction.summary, "summary-text"));
    }
    card.replaceChildren(...nodes);
  }

  // --- selection ------------------------------------------------------------------

  // Scroll the timeline (never the page) so the item shows with a little of what led to it.
  function scrollToItem(item, top) {
    if (top) {
      timeline.scrollTop = 0;
      return;
    }
    const context = Math.min(160, timeline.clientHeight / 4);
    timeline.scrollTop = Math.max(0, item.offsetTop - context);
  }

  function select(seq, options) {
    if (!N) return;
    seq = Math.min(N, Math.max(1, Math.round(seq) || 1));
    const opts = options || {};
    const page = pageOf(seq);
    if (page !== pageIndex) renderPage(page);
    const old = timeline.querySelector(".tl-item.selected");
    if (old) old.classList.remove("selected");
    const item = timeline.querySelector('.tl-item[data-seq="' + seq + '"]');
    selected = seq;
    if (item) {
      item.classList.add("selected");
      if (opts.scroll) scrollToItem(item, opts.top);
    }
    updateChartCursor();
    renderSelected(seq);
    renderMemory(seq);
    try {
      history.replaceState(null, "", "#seq=" + seq);
    } catch (err) {
      // a file: URL in a browser that refuses replaceState: the hash is only a convenience
    }
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.target.closest && ev.target.closest("input, textarea")) return;
    if (ev.key === "j" || ev.key === "ArrowDown") select(selected + 1, { scroll: true });
    else if (ev.key === "k" || ev.key === "ArrowUp") select(selected - 1, { scroll: true });
    else if (ev.key === "]" && pageIndex + 1 < D.pages.length) select(D.pages[pageIndex + 1].first_seq, { scroll: true, top: true });
    else if (ev.key === "[" && pageIndex > 0) select(D.pages[pageIndex - 1].first_seq, { scroll: true, top: true });
    else return;
    ev.preventDefault();
  });

  function seqFromHash() {
    const match = /seq=(\d+)/.exec(location.hash);
    return match ? Number(match[1]) : null;
  }

  // --- start --------------------------------------------------------------------

  renderHeader();
  renderChartLegend();
  renderZoom();
  renderFilters();
  drawChart();
  select(seqFromHash() ?? N, { scroll: true });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawChart, 120);
  });
  window.addEventListener("hashchange", () => {
    const seq = seqFromHash();
    if (seq !== null && seq !== selected) select(seq, { scroll: true });
  });
  document.body.dataset.rendered = "yes";
})();
