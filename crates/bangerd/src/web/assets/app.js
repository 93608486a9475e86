// banger's web UI. Pages are drawn from the daemon's JSON and follow its
// event stream (/events): a change names topics, the page refetches its
// one document. Guest text is only ever put in the DOM as text.
"use strict";

const body = document.body;
const base = body.dataset.base;
const page = body.dataset.page;
const vmName = body.dataset.vm;
const app = document.getElementById("app");

// ---- small helpers ----------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function bytes(n) {
  if (n === null || n === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function duration(secs) {
  if (secs === null || secs === undefined) return "-";
  secs = Math.max(0, Math.round(secs));
  if (secs < 60) return secs + "s";
  if (secs < 3600) return Math.floor(secs / 60) + "m " + (secs % 60) + "s";
  if (secs < 86400) return Math.floor(secs / 3600) + "h " + Math.floor(secs / 60 % 60) + "m";
  return Math.floor(secs / 86400) + "d " + Math.floor(secs / 3600 % 24) + "h";
}

function ago(t, now) {
  return t ? duration(now - t) + " ago" : "-";
}

function warmPool(p) {
  if (!p || p.size === 0) return "off";
  const images = p.images.map((i) => i.image + ": " + i.ready + " ready, " + i.booting + " booting");
  return p.size + " per image; " + images.join("; ") + " (" + p.memory_mib + " MiB held)" +
    (p.last_error ? "; short: " + p.last_error : "");
}

function state(s) {
  return el("span", { class: "state " + s }, s.replace("_", " "));
}

function table(headers, rows, empty) {
  const t = el("table", {}, el("tr", {}, headers.map((h) => el("th", {}, h))));
  if (rows.length === 0) {
    t.append(el("tr", {}, el("td", { colspan: headers.length, class: "mute" }, empty)));
  }
  for (const r of rows) t.append(el("tr", {}, r.map((c) => el("td", {}, c))));
  return t;
}

function facts(pairs) {
  return el("table", { class: "facts" }, pairs.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
}

// A line of the last samples, scaled to their own maximum.
function spark(values) {
  const ns = "http://www.w3.org/2000/svg";
  const w = 80, h = 18;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  if (values.length < 2) return svg;
  const max = Math.max(...values, 1e-9);
  const pts = values.map((v, i) => [(i / (values.length - 1)) * (w - 2) + 1, h - 1 - (v / max) * (h - 2)]);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.map((p) => p.join(",")).join(" "));
  svg.append(line);
  return svg;
}

async function getJson(path) {
  const r = await fetch(base + path, { cache: "no-store" });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error((body && body.error && body.error.message) || r.status + " " + r.statusText);
  return body;
}

function vmLink(name) {
  return el("a", { href: base + "/vms/" + encodeURIComponent(name) }, name);
}

function problemsOf(vms) {
  return vms.filter((v) => v.state === "crashed" || v.last_error);
}

// ---- live updates -----------------------------------------------------

const liveBadge = document.getElementById("live");
let redraw = async () => {};
let wants = () => true;
let drawing = null;
let again = false;

// One draw at a time; changes during a draw cause exactly one more.
async function refresh() {
  if (drawing) { again = true; return; }
  drawing = (async () => {
    do {
      again = false;
      try { await redraw(); } catch (e) { showError(e); }
    } while (again);
  })();
  await drawing;
  drawing = null;
}

function showError(e) {
  let box = document.getElementById("page-error");
  if (!box) {
    box = el("p", { id: "page-error", class: "err" });
    app.prepend(box);
  }
  box.textContent = String(e.message || e);
}

function follow() {
  const es = new EventSource(base + "/events");
  es.addEventListener("hello", () => {
    liveBadge.textContent = "live";
    liveBadge.className = "live on";
    refresh(); // after a reconnect, anything may have changed
  });
  es.addEventListener("change", (ev) => {
    const topics = JSON.parse(ev.data);
    if (topics.some(wants)) refresh();
  });
  es.onerror = () => {
    liveBadge.textContent = "reconnecting";
    liveBadge.className = "live off";
  };
}

// ---- overview ---------------------------------------------------------

function overview() {
  wants = (t) => ["vms", "metrics", "images", "sessions"].includes(t);
  const daemon = el("section");
  const problems = el("section");
  const vms = el("section");
  app.replaceChildren(el("h1", {}, "Overview"), problems, vms, daemon);
  redraw = async () => {
    const o = await getJson("/ui/overview");
    const d = o.daemon;
    daemon.replaceChildren(el("h2", {}, "Daemon"), facts([
      ["version", d.version],
      ["pid", d.pid],
      ["uptime", duration(d.uptime_secs)],
      ["VMM", d.vmm.backend ? d.vmm.backend + " (" + d.vmm.reason + ")" : "none: " + d.vmm.reason],
      ["auto-stop idle VMs", d.auto_stop_after_secs ? "after " + duration(d.auto_stop_after_secs) : "off"],
      ["warm pool", warmPool(d.warm_pool)],
      ["socket", d.socket],
      ["data", d.data_dir],
      ["log", d.log_file],
    ]));
    const bad = problemsOf(o.vms);
    problems.replaceChildren(...(bad.length === 0 ? [] : [
      el("h2", {}, "Problems"),
      el("div", { class: "problems", id: "problems" }, bad.map((v) => el("div", { class: "problem" },
        vmLink(v.name), " ", state(v.state), " ", el("b", {}, v.last_error || "crashed")))),
    ]));
    const rows = o.vms.map((v) => {
      const cpu = v.history.map((h) => h[1]);
      const rss = v.history.map((h) => h[2]);
      return [
        vmLink(v.name),
        state(v.warm ? "warm " + v.warm : v.state),
        v.image,
        v.ip || "-",
        v.backend,
        v.vcpus + " vCPU, " + v.memory_mib + " MiB",
        v.cpu_percent !== null && v.cpu_percent !== undefined ? [v.cpu_percent.toFixed(0) + "%", spark(cpu)] : "-",
        v.rss_mib !== null && v.rss_mib !== undefined ? [v.rss_mib + " MiB", spark(rss)] : "-",
        v.auto_stop_at ? "in " + duration(v.auto_stop_at - o.now) : "-",
      ];
    });
    vms.replaceChildren(el("h2", {}, "VMs"),
      table(["name", "state", "image", "IP", "VMM", "size", "CPU", "memory", "auto-stop"], rows,
        "no VMs: banger vm create --name NAME"));
    vms.firstChild.nextSibling.id = "vms";
  };
}

// ---- one VM -----------------------------------------------------------

function vmPage() {
  wants = (t) => ["vms", "metrics", "sessions", "workspaces"].includes(t);
  const head = el("section");
  const problem = el("section");
  const about = el("section");
  const sessions = el("section");
  const ports = el("section", {}, el("h2", {}, "Listening ports"));
  const consoleBox = el("pre", { class: "console", id: "console" });
  const work = el("section");
  const commands = el("section");
  // What a user opens a VM's page for comes first: how to reach it, what
  // it prints, what runs in it.
  app.replaceChildren(head, problem, commands,
    el("section", {}, el("h2", {}, "Console"), consoleBox), sessions, ports, work, about);

  // Output panes survive redraws: each follows its own stream.
  const outputs = new Map();
  function outputOf(s) {
    if (outputs.has(s.name)) return outputs.get(s.name);
    const pre = el("pre", { class: "output", "data-session": s.name });
    const es = new EventSource(base + "/vms/" + encodeURIComponent(vmName) + "/sessions/" +
      encodeURIComponent(s.name) + "/live");
    const add = (cls) => (ev) => {
      pre.append(cls ? el("span", { class: cls }, ev.data + "\n") : document.createTextNode(ev.data + "\n"));
    };
    es.addEventListener("stdout", add(null));
    es.addEventListener("stderr", add("stderr"));
    es.addEventListener("end", () => es.close());
    es.onerror = () => es.close();
    outputs.set(s.name, pre);
    return pre;
  }

  followConsole(consoleBox);
  loadPorts(ports);

  redraw = async () => {
    const v = await getJson("/ui/vms/" + encodeURIComponent(vmName));
    const now = Date.now() / 1000;
    head.replaceChildren(el("h1", {}, v.name, " ", state(v.state)));
    problem.replaceChildren(...(v.state === "crashed" || v.last_error ? [el("div", { class: "problems", id: "problem" },
      el("div", { class: "problem" }, el("b", {}, v.last_error || "crashed")),
      v.console_tail ? el("pre", {}, v.console_tail) : null)] : []));
    about.replaceChildren(el("h2", {}, "About"), facts([
      ["image", v.image],
      ["address", v.ip || "-"],
      ["size", v.vcpus + " vCPU, " + v.memory_mib + " MiB"],
      ["VMM", v.backend + (v.vmm_pid ? " (pid " + v.vmm_pid + ")" : "")],
      ["CPU", v.cpu_percent !== null && v.cpu_percent !== undefined ? [v.cpu_percent.toFixed(0) + "%", spark(v.history.map((h) => h[1]))] : "-"],
      ["memory", v.rss_mib !== null && v.rss_mib !== undefined ? [v.rss_mib + " MiB", spark(v.history.map((h) => h[2]))] : "-"],
      ["created", ago(v.created_at, now)],
      ["started", ago(v.started_at, now)],
      ["last used", ago(v.last_activity, now)],
      ["auto-stop", v.auto_stop_at ? "in " + duration(v.auto_stop_at - now) : "-"],
      ["directory", v.dir],
    ]), el("h2", {}, "Disks"), table(["disk", "path", "size", "on disk"],
      v.disks.map((d) => [d.disk, d.path, bytes(d.bytes), bytes(d.allocated_bytes)]), "no disks"));
    commands.replaceChildren(el("h2", {}, "Reach it"), ...v.commands.map((c) => el("code", { class: "cmd" }, c)));
    const rows = v.sessions.map((s) => [
      s.name,
      state(s.state),
      s.argv.join(" "),
      s.cwd || "-",
      ago(s.started_at, now),
      s.exit_code !== null && s.exit_code !== undefined ? "exit " + s.exit_code : (s.exit_signal ? "signal " + s.exit_signal : "-"),
      v.state === "running" ? outputOf(s) : el("span", { class: "mute" }, "VM not running"),
    ]);
    sessions.replaceChildren(el("h2", {}, "Sessions"),
      table(["name", "state", "command", "cwd", "started", "ended", "output"], rows, "no sessions"));
    sessions.lastChild.id = "sessions";
    work.replaceChildren(el("h2", {}, "Workspaces"), table(["host path", "guest path", "mode", "prepared"],
      v.workspaces.map((w) => [w.host_path, w.guest_path, w.mode + (w.readonly ? ", read-only" : ""), ago(w.prepared_at, now)]),
      "none: banger vm workspace prepare " + v.name + " PATH"));
  };
}

function followConsole(pre) {
  const keep = 256 * 1024;
  const es = new EventSource(base + "/vms/" + encodeURIComponent(vmName) + "/console/live");
  const put = (text, reset) => {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    let all = (reset ? "" : pre.textContent) + text;
    if (all.length > keep) all = all.slice(all.length - keep);
    pre.textContent = all;
    if (atEnd || reset) pre.scrollTop = pre.scrollHeight;
  };
  es.addEventListener("reset", (ev) => put(ev.data + "\n", true));
  es.addEventListener("data", (ev) => put(ev.data + "\n", false));
}

async function loadPorts(section) {
  const button = el("button", {}, "look again");
  button.addEventListener("click", () => loadPorts(section));
  let content;
  try {
    const p = await getJson("/ui/vms/" + encodeURIComponent(vmName) + "/ports");
    content = table(["proto", "address", "port", "process", ""], p.ports.map((x) => [
      x.proto, x.address, x.port, x.process || "-",
      x.port === 4096 && p.ip
        ? el("a", { href: "http://" + p.ip + ":4096/", rel: "noreferrer noopener", target: "_blank" }, "opencode")
        : "",
    ]), "nothing listening");
  } catch (e) {
    content = el("p", { class: "mute" }, String(e.message || e));
  }
  section.replaceChildren(el("h2", {}, "Listening ports ", button), content);
}

// ---- images and kernels -----------------------------------------------

function artifacts() {
  wants = (t) => ["images", "kernels", "vms"].includes(t);
  const images = el("section");
  const kernels = el("section");
  const catalog = el("section");
  app.replaceChildren(el("h1", {}, "Images and kernels"), images, kernels, catalog);
  redraw = async () => {
    const [imgs, kers, vms] = await Promise.all([getJson("/v1/images"), getJson("/v1/kernels"), getJson("/v1/vms")]);
    images.replaceChildren(el("h2", {}, "Images"), table(["name", "source", "kernel", "rootfs", "tools", "used by"],
      imgs.map((i) => [
        i.name + (i.managed ? "" : " (registered)"),
        i.source || "-",
        i.kernel_ref || i.kernel || "-",
        bytes(i.rootfs_bytes),
        i.build && i.build.tools ? Object.entries(i.build.tools).map(([k, v]) => k + " " + v).join(", ") : "-",
        vms.filter((v) => v.image === i.name).map((v) => [vmLink(v.name), " "]),
      ]), "no images: banger image pull REF or banger image build"));
    images.lastChild.id = "images";
    kernels.replaceChildren(el("h2", {}, "Kernels"), table(["name", "version", "arch", "source", "size", "used by"],
      kers.map((k) => [
        k.name, k.version, k.arch, k.source,
        bytes(k.files.reduce((n, f) => n + f.bytes, 0)),
        imgs.filter((i) => i.kernel_ref === k.name).map((i) => i.name).join(", ") || "-",
      ]), "no kernels: banger kernel pull NAME"));
    kernels.lastChild.id = "kernels";
    let cat;
    try {
      const c = await getJson("/v1/kernels/catalog");
      cat = table(["name", "version", "arch", "download", "pulled", "about"],
        c.kernels.map((k) => [k.name, k.version, k.arch, bytes(k.download_bytes), k.pulled ? "yes" : "no", k.description]),
        "the catalog lists no kernels");
    } catch (e) {
      cat = el("p", { class: "mute" }, "catalog: " + String(e.message || e));
    }
    catalog.replaceChildren(el("h2", {}, "Kernel catalog"), cat);
  };
}

// ---- start ------------------------------------------------------------

({ overview, vm: vmPage, artifacts }[page] || overview)();
refresh();
follow();
