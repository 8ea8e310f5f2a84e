// The entry count in the header ("5,120 of 18,000 in"), fed by ticketing's gates stream
// (gates:<event_id>, opened with the screen key; docs/websocket-protocol.md "Gates stream").
// Shown once the event has gates.
import { T, count, el } from "./local.js";

// gate.progress carries the changed gates' absolute counts: a message applied twice, or
// after a reset snapshot, changes nothing. "expected" comes with the snapshot only.
export function applyEntry(entry, message) {
  const data = message.data || {};
  if (message.type === "snapshot") return data;
  if (message.type !== "gate.progress" || !entry) return entry;
  const counts = new Map((data.gates || []).map((g) => [g.id, g.scanned]));
  const gates = entry.gates.map((g) => (counts.has(g.id)
    ? Object.assign({}, g, { scanned: counts.get(g.id) }) : g));
  return Object.assign({}, entry, { gates, scanned: gates.reduce((n, g) => n + g.scanned, 0) });
}

// The figures in <strong>, like the queue's length; the words around them are the
// translation's, in its order ("вошли {scanned} из {expected}").
export function renderEntry(entry, node) {
  const on = !!(entry && entry.gates && entry.gates.length);
  node.hidden = !on;
  if (!on) return;
  const key = entry.scanned + "/" + entry.expected;
  if (node.dataset.key === key) return;
  node.dataset.key = key;
  const figures = { scanned: entry.scanned, expected: entry.expected };
  const parts = String(T.entry).split(/(\{\w+\})/).filter(Boolean).map((part) => {
    const name = part.slice(1, -1);
    return part.startsWith("{") && name in figures ? el("strong", {}, count(figures[name])) : part;
  });
  node.replaceChildren(el("span", {}, ...parts)); // one unbroken line, like the queue's
}
