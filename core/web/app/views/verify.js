// "Check this draw": fetches the public fairness proof and recomputes the winners here,
// in the browser (core/web/app/fairness.js), step by step in plain language; and whether
// a given entry is in the frozen list. #/events/12/draws/7/verify?entry=8123
import { KNOWN_CHAINS, verifyProof } from "../fairness.js";
import { errorBox, h } from "../ui.js";

function stepItem(s) {
  return h("li", { class: s.ok ? "check ok" : "check failed", dataset: { check: s.key, ok: String(s.ok) } },
    h("strong", {}, (s.ok ? "✓ " : "✗ ") + s.label + (s.ok ? ": matched" : ": failed")), s.detail ? h("div", { class: "muted" }, s.detail) : null);
}

function entryChecker(proof, initial) {
  const result = h("p", { id: "entry-result", "aria-live": "polite" });
  const input = h("input", { id: "entry-id", name: "entry", inputmode: "numeric", value: initial || "" });
  const check = () => {
    const wanted = input.value.trim();
    if (!wanted) { result.textContent = ""; return; }
    const ids = new Set((proof.entries || []).map((line) => line.split(":")[0]));
    const found = ids.has(wanted);
    result.dataset.found = String(found);
    result.textContent = found
      ? `Entry ${wanted} is in the list the winners were drawn from.`
      : `Entry ${wanted} is not in this draw's list.`;
  };
  input.addEventListener("input", check);
  check();
  return h("section", { "aria-labelledby": "mine-heading" },
    h("h2", { id: "mine-heading" }, "Is my entry in it?"),
    h("label", { for: "entry-id" }, "Your entry number (My entries shows it)"), input, result);
}

// What the randomness behind a verified draw is worth, said plainly (docs/fairness.md):
// a staff fallback used none (only as strong as v1: the operator could have predicted
// it), and a chain this page does not know is only as good as its key.
function randomnessNote(proof) {
  const beacon = proof.algorithm === "tombola-beacon-v2" ? proof.beacon || {} : null;
  if (!beacon) return ".";
  if (beacon.fallback) {
    return ", but WITHOUT public randomness: staff performed it without its beacon round, "
      + "so whoever ran it could have predicted the winners.";
  }
  if (!KNOWN_CHAINS[(beacon.chain || {}).hash]) {
    return " and the public randomness of a beacon chain this page does not know: "
      + "check its public key against the chain's published one.";
  }
  return " and the public randomness.";
}

export async function verifyView(main, ctx, eventId, drawId, query) {
  const url = `/events/${eventId}/draws/${drawId}/proof/`;
  main.append(h("h1", {}, "Check this draw"));
  let proof;
  try {
    proof = await ctx.api.get(url, { auth: false });
  } catch (error) {
    main.append(errorBox(error));
    return null;
  }
  const outcome = await verifyProof(proof);
  main.append(
    h("p", {}, "Your browser recomputes the draw from its public proof; nothing here trusts the server's word. ",
      h("a", { href: "/api" + url, rel: "noopener" }, "The proof itself")),
    h("ol", { class: "checks", "aria-label": "Checks" }, outcome.steps.map(stepItem)),
    h("p", { id: "verdict", role: "status", dataset: { result: outcome.ok ? "ok" : "failed",
      failed: outcome.failed ? outcome.failed.key : "",
      fallback: String(Boolean(proof.beacon && proof.beacon.fallback)) } },
    outcome.ok ? "Everything matches: these winners follow from the committed seed, the frozen entries"
      + randomnessNote(proof)
      : `This proof does not check out: the ${outcome.failed.label.toLowerCase()} check failed.`),
    proof.entries ? entryChecker(proof, query.get("entry")) : null);
  return null;
}
