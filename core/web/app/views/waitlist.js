// Me: my place on the waitlist, my referrals (confirmed and pending) and a share button
// with my link; whether my email is confirmed, with a "send the link again" button; my
// phone, verified by SMS code (views/phone.js).
import { actionButton, announce, append, errorBox, h, time } from "../ui.js";
import { phoneSection } from "./phone.js";

export function referralLink(code) {
  return `${window.location.origin}/app/?ref=${encodeURIComponent(code)}`;
}

async function share(link) {
  const text = "Join me on Tombola: live draws, prizes and tickets.";
  if (navigator.share) {
    try {
      await navigator.share({ title: "Tombola", text, url: link });
      return "Shared.";
    } catch (error) {
      if (error && error.name === "AbortError") return "";
    }
  }
  try {
    await navigator.clipboard.writeText(link);
    return "Link copied: paste it to a friend.";
  } catch (error) {
    return "Copy the link above to share it.";
  }
}

export async function waitlistView(main, { api, router }) {
  const section = h("section", { class: "narrow me" }, h("h1", {}, "Me"));
  main.append(section);
  if (!api.signedIn()) {
    router.go("/signin?next=/me");
    return null;
  }
  let me, block, referrals;
  try {
    [me, block, referrals] = await Promise.all([api.me(), api.waitlist(), api.referrals()]);
  } catch (error) {
    section.append(errorBox(error));
    return null;
  }
  const link = referralLink(block.referral_code);
  const counted = referrals.results.filter((r) => r.status === "counted");
  const pending = referrals.results.filter((r) => r.status === "pending");
  const shareStatus = h("p", { class: "muted", role: "status", id: "share-status" });
  const emailSlot = h("div");

  append(section,
    h("p", { class: "meta" }, "Signed in as ", h("strong", {}, me.email)),
    me.email_verified_at
      ? h("p", { id: "email-state", class: "entered" }, "Email confirmed.")
      : h("div", { id: "email-state", class: "notice" },
        h("p", {}, "Please confirm your email: open the link we sent you. ",
          "A friend's referral counts once you have."),
        actionButton("Send the link again", async () => {
          try {
            await api.resendConfirmation();
            emailSlot.replaceChildren(h("p", { role: "status" }, "Sent: check your mailbox."));
          } catch (error) {
            emailSlot.replaceChildren(errorBox(error));
          }
        }), emailSlot),
    phoneSection({ api, me }),
    h("section", { "aria-labelledby": "waitlist-heading", class: "card waitlist" },
      h("h2", { id: "waitlist-heading" }, "Waitlist"),
      block.wait_list_position === null
        ? h("p", {}, "Staff accounts have no place on the waitlist.")
        : h("p", { class: "place" }, "Your place: ", h("strong", { id: "waitlist-position" }, block.wait_list_position),
          ` of ${block.total_registered}`),
      h("p", { class: "muted" }, "Every friend who joins with your link and confirms moves you up.")),
    h("section", { "aria-labelledby": "referrals-heading", class: "card referrals" },
      h("h2", { id: "referrals-heading" }, "Your referrals"),
      h("p", {}, h("strong", { id: "referrals-confirmed" }, counted.length), " confirmed · ",
        h("strong", { id: "referrals-pending" }, pending.length), " waiting for the friend to confirm"),
      referrals.results.length ? h("ul", { class: "referral-list" }, referrals.results.map((r) =>
        h("li", { dataset: { status: r.status } }, r.referee, " · ",
          r.status === "counted" ? ["confirmed ", time(r.counted_at)] : "not confirmed yet"))) : null,
      h("div", { class: "field" }, h("label", { for: "referral-link" }, "Your link"),
        h("input", { id: "referral-link", type: "url", value: link, readonly: true })),
      actionButton("Share your link", async () => {
        const said = await share(link);
        shareStatus.textContent = said;
        if (said) announce(said);
      }, { class: "primary", id: "share" }),
      shareStatus));
  return null;
}
