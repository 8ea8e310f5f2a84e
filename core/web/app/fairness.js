// The fairness proof recomputed in the browser (docs/fairness.md): the twin of
// live/fairness.py and live/verify.py, with Web Crypto for SHA-256 and HMAC-SHA256 and
// @noble/curves (core/web/vendor/, loaded only when a proof has a beacon round) for the
// round's BLS12-381 signature: nothing is taken on the server's word.

const encoder = new TextEncoder();
const U64 = 1n << 64n;

// The drand chains the verifier knows (live/beacon.py KNOWN_CHAINS).
export const KNOWN_CHAINS = {
  "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971": {
    name: "quicknet", period: 3, genesis_time: 1692803367,
    public_key: "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a",
  },
  "8990e7a9aaed2ffed73dbd7092123d6f289930540d7651336225dc172e51b2ce": {
    name: "default", period: 30, genesis_time: 1595431050,
    public_key: "868f005eb8e6e4ca0a47c8a77ceaa5309a47978a7c71bc5cce96366b5d7a569937c529eeda66c7293784a9402801af31",
  },
};

export function fromHex(hex) {
  if (typeof hex !== "string" || hex.length % 2 || /[^0-9a-f]/i.test(hex)) {
    throw new Error("not hex: " + String(hex).slice(0, 20));
  }
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

export function toHex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  parts.forEach((p) => { out.set(p, at); at += p.length; });
  return out;
}

function roundBytes(round) {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(round));
  return bytes;
}

// The drand round's BLS signature against the chain's public key (live/beacon.py verify).
export async function beaconSignatureValid(chain, beacon) {
  const { bls12_381: curve } = await import("../vendor/noble-curves/bls12-381.js");
  const round = roundBytes(beacon.round);
  let scheme;
  let message;
  if (chain.scheme === "bls-unchained-g1-rfc9380") {
    scheme = curve.shortSignatures; // signature on G1, key on G2
    message = new Uint8Array(await crypto.subtle.digest("SHA-256", round));
  } else if (chain.scheme === "pedersen-bls-chained") {
    scheme = curve.longSignatures; // signature on G2, key on G1
    message = new Uint8Array(await crypto.subtle.digest("SHA-256",
      concat(fromHex(beacon.previous_signature || ""), round)));
  } else {
    return false;
  }
  try {
    return scheme.verify(fromHex(beacon.signature), scheme.hash(message), fromHex(chain.public_key));
  } catch (error) {
    return false; // not a point of the curve, wrong length: not a valid signature
  }
}

export async function sha256Hex(bytes) {
  return toHex(await crypto.subtle.digest("SHA-256", bytes));
}

// sha256 of the entry lines joined by "\n" (UTF-8), as hex.
export async function entriesDigest(lines) {
  return sha256Hex(encoder.encode(lines.join("\n")));
}

// Unsigned 64-bit integers from HMAC-SHA256(key = seed, msg = digest || beacon || counter).
async function randomStream(seedHex, digestHex, beaconHex) {
  const key = await crypto.subtle.importKey("raw", fromHex(seedHex),
    { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const prefix = concat(fromHex(digestHex), fromHex(beaconHex || ""));
  let counter = 0n;
  return async () => {
    const block = new Uint8Array(8);
    new DataView(block.buffer).setBigUint64(0, counter);
    counter += 1n;
    const mac = new DataView(await crypto.subtle.sign("HMAC", key, concat(prefix, block)));
    return mac.getBigUint64(0);
  };
}

async function uniform(next, n) {
  const bn = BigInt(n);
  const limit = (U64 / bn) * bn;
  for (;;) {
    const x = await next();
    if (x < limit) return Number(x % bn);
  }
}

// `count` distinct indices in [0, population), in pick order (live/fairness.py pick_indices).
export async function pickIndices(seedHex, digestHex, population, count, beaconHex = "") {
  const next = await randomStream(seedHex, digestHex, beaconHex);
  const picked = [];
  const ordered = [];
  for (let i = 0; i < Math.min(count, population); i++) {
    let index = await uniform(next, population - i);
    for (const taken of ordered) {
      if (taken <= index) index += 1;
      else break;
    }
    picked.push(index);
    ordered.push(index);
    ordered.sort((a, b) => a - b);
  }
  return picked;
}

export async function winningNumbers(seedHex, digestHex, k, n, beaconHex = "") {
  const picks = await pickIndices(seedHex, digestHex, n, k, beaconHex);
  return picks.map((i) => i + 1).sort((a, b) => a - b);
}

function parseLine(line) {
  const [id, numbers = ""] = line.split(":");
  return { id: Number(id), numbers };
}

function sameList(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// Each check: {key, label, ok, detail}. Stops at the first failed check (later ones would
// only repeat it); `failed` names it.
export async function verifyProof(proof) {
  const steps = [];
  const step = (key, label, ok, detail) => { steps.push({ key, label, ok, detail }); return ok; };
  const done = () => ({ steps, ok: steps.every((s) => s.ok), failed: steps.find((s) => !s.ok) || null });
  try {
    if (!step("algorithm", "Fairness scheme",
      ["tombola-hmac-sha256-v1", "tombola-beacon-v2"].includes(proof.algorithm),
      proof.algorithm)) return done();
    if (!step("seed", "Seed commitment", Boolean(proof.seed)
        && await sha256Hex(fromHex(proof.seed)) === proof.seed_commitment,
      proof.seed ? "sha256(seed) = " + proof.seed_commitment.slice(0, 16) + "…"
        : "The seed is not revealed yet: the draw has not been performed.")) return done();
    const lines = proof.entries || [];
    const digest = await entriesDigest(lines);
    if (!step("entries", "Entries digest",
      digest === proof.entries_digest && lines.length === proof.entries_count,
      `${lines.length} entries, sha256 = ${digest.slice(0, 16)}…`)) return done();
    let beaconHex = "";
    if (proof.algorithm === "tombola-beacon-v2") {
      const b = proof.beacon || {};
      if (b.fallback) {
        // As live/verify.py: a fallback draw used no round, so it carries no randomness.
        if (!step("beacon", "Beacon round", !b.randomness, b.randomness
          ? "A draw performed without its beacon round cannot carry the round's randomness."
          : "No beacon: staff performed this draw without it (" + b.fallback.reason
            + ", after " + b.fallback.waited_seconds + " s of waiting).")) return done();
      } else {
        const chain = b.chain || {};
        const known = KNOWN_CHAINS[chain.hash];
        const roundAt = chain.genesis_time + (b.round - 1) * chain.period;
        const closedAt = Date.parse(proof.closed_at) / 1000;
        const others = [proof.entries_close_at, proof.scheduled_at].filter(Boolean)
          .map((t) => Date.parse(t) / 1000);
        const randomnessOk = Boolean(b.signature)
          && await sha256Hex(fromHex(b.signature)) === b.randomness;
        const chainOk = !known || (known.public_key === chain.public_key
          && known.period === chain.period && known.genesis_time === chain.genesis_time);
        const afterClose = roundAt === b.round_at && roundAt > closedAt
          && others.every((t) => roundAt > t);
        const ok = randomnessOk && chainOk && afterClose;
        step("beacon", "Beacon round", ok, ok
          ? `drand ${known ? known.name : "chain " + String(chain.hash).slice(0, 12) + "…"} round ${b.round}, `
            + `published ${new Date(roundAt * 1000).toISOString()}, after entries closed `
            + `(${proof.closed_at}).`
          : !chainOk ? "The chain's key or timing differ from the public drand chain."
            : !afterClose ? `Round ${b.round} was not published after entries closed.`
              : "The beacon randomness is not sha256 of its signature.");
        if (!ok) return done();
        if (!step("signature", "Beacon signature", await beaconSignatureValid(chain, b),
          `BLS12-381 signature of round ${b.round} against the chain's public key`
          + (known ? "" : " (not a built-in chain: check its key yourself)") + ".")) return done();
        beaconHex = b.randomness;
      }
    }
    const entries = lines.map(parseLine);
    const winners = proof.winners || [];
    let ok = false;
    let detail = "";
    if (proof.kind === "raffle") {
      const picked = winners.filter((w) => w.pick !== null && w.pick !== undefined)
        .sort((a, b) => a.pick - b.pick);
      const indices = await pickIndices(proof.seed, digest, entries.length, picked.length, beaconHex);
      const expected = indices.map((i) => entries[i].id);
      ok = picked.every((w, i) => w.pick === i) && sameList(expected, picked.map((w) => w.entry_id));
      detail = ok ? "Winning entries: " + expected.join(", ")
        : "Recomputed " + expected.join(", ") + " but the proof says "
          + picked.map((w) => w.entry_id).join(", ");
    } else if (proof.kind === "lottery" && proof.lottery.mode === "single_ballot") {
      if (!entries.length) {
        ok = winners.length === 0;
      } else {
        const [index] = await pickIndices(proof.seed, digest, entries.length, 1, beaconHex);
        const numbers = entries[index].numbers;
        const earliest = entries.find((e) => e.numbers === numbers).id;
        ok = sameList(winners.map((w) => w.entry_id), [earliest])
          && sameList(proof.lottery.winning_numbers, numbers.split(",").map(Number));
        detail = "Winning ballot " + earliest + ": " + numbers;
      }
    } else if (proof.kind === "lottery") {
      const drawn = await winningNumbers(proof.seed, digest, proof.lottery.numbers_count,
        proof.lottery.numbers_max, beaconHex);
      const tiers = new Map(proof.prizes.filter((p) => p.matches !== null).map((p) => [p.matches, p.id]));
      const wanted = new Set(drawn);
      const expected = new Set();
      entries.forEach((e) => {
        const hits = e.numbers.split(",").filter((n) => wanted.has(Number(n))).length;
        if (tiers.has(hits)) expected.add(e.id + ":" + tiers.get(hits));
      });
      const got = new Set(winners.map((w) => w.entry_id + ":" + w.prize_id));
      ok = sameList(drawn, proof.lottery.winning_numbers)
        && expected.size === got.size && [...expected].every((x) => got.has(x));
      detail = "Winning numbers " + drawn.join(", ");
    }
    step("winners", "Winners", ok, detail);
  } catch (error) {
    step("readable", "Reading the proof", false, String(error.message || error));
  }
  return done();
}
