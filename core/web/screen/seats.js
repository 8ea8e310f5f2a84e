// The venue screen's seat panel, for events at a venue: each section's seats sold, held
// and free (a bar and figures), and a small map of every seat coloured by its status,
// live from the seat stream (seats:<event_id>; ticketing/streams.py).

import { T, count, el, fill } from "./local.js";

const STATUS_AFTER = { "seat.held": "held", "seat.released": "free", "seat.expired": "free",
  "seat.sold": "sold" };
// Past this many seats the map is left out (one SVG element per seat); the figures stay.
const MAP_MAX_SEATS = 3000;
const SVG = "http://www.w3.org/2000/svg";

export function seatState() {
  return { seats: new Map(), version: 0, mapped: -1 };
}

// A snapshot replaces the map; a delta sets its seats' status (absolute, so idempotent).
export function applySeats(seats, message) {
  const data = message.data || {};
  if (message.type === "snapshot") {
    seats.seats = new Map((data.seats || []).map((s) => [s.id, s]));
    seats.version += 1;
  } else if (STATUS_AFTER[message.type]) {
    (data.seats || []).forEach((id) => {
      const seat = seats.seats.get(typeof id === "object" ? id.id : id);
      if (seat) seat.status = data.status || STATUS_AFTER[message.type];
    });
  }
}

// [{id, name, total, free, held, sold, blocked}] in the venue's section order.
export function sections(seats) {
  const bySection = new Map();
  seats.seats.forEach((seat) => {
    if (!bySection.has(seat.section_id)) {
      bySection.set(seat.section_id, { id: seat.section_id, name: seat.section, total: 0,
        free: 0, held: 0, sold: 0, blocked: 0 });
    }
    const section = bySection.get(seat.section_id);
    section.total += 1;
    section[seat.status] = (section[seat.status] || 0) + 1;
  });
  return Array.from(bySection.values()).sort((a, b) => a.id - b.id);
}

function bar(section) {
  const track = el("div", { class: "bar" });
  ["sold", "held", "free"].forEach((status) => {
    if (!section[status]) return;
    const part = el("span", { class: "bar-part", "data-status": status });
    part.style.width = (100 * section[status] / section.total) + "%";
    track.append(part);
  });
  return track;
}

function sectionItem(section) {
  return el("li", { class: "section", "data-section-id": section.id },
    el("span", { class: "section-name" }, section.name),
    el("span", { class: "section-sold" },
      fill(T.sold_of, { sold: count(section.sold), total: count(section.total) })),
    bar(section),
    el("span", { class: "section-free", "data-status": "free" },
      count(section.free) + " " + T.free),
    section.held ? el("span", { class: "section-held", "data-status": "held" },
      count(section.held) + " " + T.held) : null);
}

// Where each seat goes on the map: the layout's x/y when every seat has them, else the
// sections side by side, rows front to back, seats by number.
function positions(all) {
  if (all.every((s) => typeof s.x === "number" && typeof s.y === "number")) {
    return new Map(all.map((s) => [s.id, [s.x, s.y]]));
  }
  const placed = new Map();
  let left = 0;
  const bySection = new Map();
  all.forEach((s) => {
    if (!bySection.has(s.section_id)) bySection.set(s.section_id, new Map());
    const rows = bySection.get(s.section_id);
    if (!rows.has(s.row)) rows.set(s.row, []);
    rows.get(s.row).push(s);
  });
  Array.from(bySection.keys()).sort((a, b) => a - b).forEach((sectionId) => {
    let width = 0;
    Array.from(bySection.get(sectionId).values()).forEach((row, y) => {
      row.sort((a, b) => a.number - b.number || a.id - b.id)
        .forEach((s, x) => placed.set(s.id, [left + x, y]));
      width = Math.max(width, row.length);
    });
    left += width + 1;
  });
  return placed;
}

function drawMap(seats, container) {
  const all = Array.from(seats.seats.values());
  if (!all.length || all.length > MAP_MAX_SEATS) {
    container.replaceChildren();
    container.hidden = true;
    return;
  }
  const where = positions(all);
  const xs = all.map((s) => where.get(s.id)[0]), ys = all.map((s) => where.get(s.id)[1]);
  const minX = Math.min(...xs), minY = Math.min(...ys);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `${minX - 0.5} ${minY - 0.5} ${Math.max(...xs) - minX + 1} ${
    Math.max(...ys) - minY + 1}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  all.forEach((s) => {
    const [x, y] = where.get(s.id);
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", x - 0.4);
    rect.setAttribute("y", y - 0.4);
    rect.setAttribute("width", 0.8);
    rect.setAttribute("height", 0.8);
    rect.setAttribute("rx", 0.15);
    rect.dataset.seatId = s.id;
    svg.append(rect);
  });
  container.replaceChildren(svg);
  container.hidden = false;
}

export function renderSeats(seats, nodes) {
  if (!seats.seats.size) return;
  nodes.root.hidden = false;
  if (seats.mapped !== seats.version) {
    drawMap(seats, nodes.map);
    seats.mapped = seats.version;
  }
  nodes.map.querySelectorAll("rect").forEach((rect) => {
    const seat = seats.seats.get(Number(rect.dataset.seatId));
    if (seat && rect.dataset.status !== seat.status) rect.dataset.status = seat.status;
  });
  const items = sections(seats);
  const key = JSON.stringify(items);
  if (nodes.list.dataset.key !== key) {
    nodes.list.dataset.key = key;
    nodes.list.replaceChildren(...items.map(sectionItem));
  }
}
