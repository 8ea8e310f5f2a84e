// The seat map of an event as SVG: one drawing per section, rows of seats coloured by
// what the person can do with them. Pure drawing: the seats view owns the state (the seat
// stream's statuses, my holds and tickets, the seats picked) and calls draw() again.
//
// Where the layout has coordinates (a seat's x and y, in seat widths), they place the
// seat; otherwise a row's seats stand side by side in number order, front row first.

const SVG = "http://www.w3.org/2000/svg";
const UNIT = 30;        // one seat width, in SVG user units
const LABEL = 28;       // room on the left for the row labels

// Free seats take the colour of their price: the legend says which price is which.
export const PRICE_COLOURS = ["#1f4fd1", "#8a3ffc", "#b35c00", "#007a8a", "#a3195b", "#5b6b00"];

export const STATUS_LABELS = {
  free: "Free", picked: "Picked", mine: "Yours", held: "Held by someone", sold: "Sold",
  blocked: "Not for sale",
};

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  Object.entries(attrs || {}).forEach(([name, value]) => {
    if (value !== null && value !== undefined && value !== false) el.setAttribute(name, String(value));
  });
  children.forEach((child) => child && el.append(child));
  return el;
}

// Sections in layout order, each with its rows in order and each row's seats.
export function sections(seats) {
  const byId = new Map();
  seats.forEach((seat) => {
    if (!byId.has(seat.section_id)) {
      byId.set(seat.section_id, { id: seat.section_id, name: seat.section, price: null, rows: new Map() });
    }
    const section = byId.get(seat.section_id);
    if (seat.price !== null && seat.price !== undefined) section.price = seat.price;
    if (!section.rows.has(seat.row)) section.rows.set(seat.row, []);
    section.rows.get(seat.row).push(seat);
  });
  return Array.from(byId.values());
}

// Distinct prices, cheapest last (the dearest seats are usually at the front).
export function priceColours(seats) {
  const prices = Array.from(new Set(seats.map((s) => s.price).filter((p) => p !== null && p !== undefined)))
    .sort((a, b) => b - a);
  return new Map(prices.map((price, i) => [price, PRICE_COLOURS[i % PRICE_COLOURS.length]]));
}

function place(section) {
  // Seat centres in user units; rows without coordinates go left to right, front first.
  const out = [];
  Array.from(section.rows.values()).forEach((row, r) => {
    row.forEach((seat, i) => {
      const x = seat.x === null || seat.x === undefined ? i : seat.x;
      const y = seat.y === null || seat.y === undefined ? r : seat.y;
      out.push({ seat, cx: LABEL + (x + 0.5) * UNIT, cy: (y + 0.5) * UNIT });
    });
  });
  return out;
}

// One section's drawing. `stateOf(seat)` is one of STATUS_LABELS' keys; `describe(seat,
// state)` the seat's accessible name; `onToggle(seat)` runs for a tap (or Enter/Space) on
// a seat the person may pick or unpick.
export function drawSection(section, { stateOf, describe, colours, onToggle }) {
  const placed = place(section);
  const width = Math.max(...placed.map((p) => p.cx)) + UNIT / 2 + 2;
  const height = Math.max(...placed.map((p) => p.cy)) + UNIT / 2 + 2;
  const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "seat-svg",
    width: "100%", role: "group", "aria-label": `${section.name}: seats` });
  Array.from(section.rows.entries()).forEach(([label, row]) => {
    const first = placed.find((p) => p.seat === row[0]);
    drawing.append(svg("text", { x: 4, y: first.cy + 4, class: "row-label", "aria-hidden": "true" }, document.createTextNode(label)));
  });
  placed.forEach(({ seat, cx, cy }) => {
    const state = stateOf(seat);
    const pickable = state === "free" || state === "picked";
    const shape = svg("rect", {
      x: cx - UNIT * 0.4, y: cy - UNIT * 0.4, width: UNIT * 0.8, height: UNIT * 0.8, rx: 5,
      class: `seat ${state}`, "data-seat-id": seat.id, "data-state": state,
      fill: state === "free" ? colours.get(seat.price) || PRICE_COLOURS[0] : null,
      role: pickable ? "checkbox" : "img", "aria-checked": pickable ? String(state === "picked") : null,
      "aria-label": describe(seat, state), tabindex: pickable ? 0 : null,
    });
    if (pickable) {
      shape.addEventListener("click", () => onToggle(seat));
      shape.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          onToggle(seat);
        }
      });
    }
    drawing.append(shape);
    if (state === "mine" || state === "picked") {
      drawing.append(svg("text", { x: cx, y: cy + 5, class: "seat-mark", "text-anchor": "middle",
        "aria-hidden": "true" }, document.createTextNode("✓")));
    }
  });
  return drawing;
}
