import { api, el, money, requireUser, say, sleep, when } from "../app.js";

const PENDING_POLL_MS = 1000;
const OUTCOME_WAIT_MS = 120_000;
const PENDING_KEY = "picopt.pendingPurchase";
const purchasesBody = document.querySelector("#purchases-table tbody");
let purchasesCursor = null;

async function loadBalance() {
  const balance = await api("GET", "/v1/billing/balance");
  for (const key of ["available", "reserved", "granted", "purchased"]) {
    document.getElementById(`bal-${key}`).textContent = String(balance[key]);
  }
  return balance;
}

async function loadPacks() {
  const packs = await api("GET", "/v1/billing/packs");
  document.getElementById("prices").textContent =
    `An optimized image costs ${packs.image_cost} credit${packs.image_cost === 1 ? "" : "s"}; AI metadata adds ${packs.metadata_cost}.`;
  document.getElementById("packs").replaceChildren(...packs.packs.map((pack) => {
    const buy = el("button", { type: "button", class: "primary", text: `Buy ${pack.credits.toLocaleString("en")} credits`, "data-pack": pack.id });
    buy.addEventListener("click", () => purchase(pack, buy));
    return el("li", {},
      el("h3", { text: pack.name }),
      el("p", { class: "price", text: money(pack.amount, pack.currency) }),
      buy);
  }));
}

function purchaseRow(p) {
  const receipt = p.receipt
    ? el("span", { text: `No. ${p.receipt.number}, paid ${when(p.receipt.paid_at)}${p.receipt.emailed ? ", emailed" : ""}` })
    : el("span", { text: "–" });
  return el("tr", { "data-purchase-id": p.id },
    el("td", { "data-label": "Date", text: when(p.created_at) }),
    el("td", { "data-label": "Pack", text: p.pack_name }),
    el("td", { "data-label": "Amount", text: money(p.amount, p.currency) }),
    el("td", { "data-label": "Status", class: `purchase-status ${p.status}`, text: p.status }),
    el("td", { "data-label": "Receipt" }, receipt));
}

async function loadPurchases(more = false) {
  const params = new URLSearchParams({ limit: "10" });
  if (more && purchasesCursor) params.set("cursor", purchasesCursor);
  const page = await api("GET", `/v1/billing/purchases?${params}`);
  const rows = page.purchases.map(purchaseRow);
  if (more) purchasesBody.append(...rows);
  else purchasesBody.replaceChildren(...rows);
  purchasesCursor = page.purchases.length < 10 ? null : page.next_cursor;
  const empty = purchasesBody.children.length === 0;
  document.getElementById("purchases-empty").hidden = !empty;
  document.getElementById("purchases-table").hidden = empty;
  document.getElementById("purchases-more").hidden = !purchasesCursor;
  return page.purchases;
}

function notice(text) {
  const box = document.getElementById("payment");
  document.getElementById("payment-text").textContent = text;
  box.hidden = false;
  box.focus();
}

// Waits until Stripe's webhook has told billing the outcome, then refreshes everything.
async function awaitOutcome(purchaseId) {
  const deadline = Date.now() + OUTCOME_WAIT_MS;
  while (Date.now() < deadline) {
    const purchases = await loadPurchases();
    const found = purchases.find((p) => p.id === purchaseId);
    if (found && found.status !== "pending") {
      await loadBalance();
      notice(found.status === "paid"
        ? `Payment received: ${found.credits} credits added. Receipt number ${found.id}.`
        : `The payment did not go through (${found.status}).`);
      return;
    }
    await sleep(PENDING_POLL_MS);
  }
  notice("Stripe has not confirmed the payment yet. The credits appear here as soon as it does.");
}

async function purchase(pack, button) {
  button.disabled = true;
  try {
    const started = await api("POST", "/v1/billing/checkout", { pack: pack.id });
    if (started.mode === "checkout" && started.checkout_url) {
      say("Opening Stripe's payment page…");
      sessionStorage.setItem(PENDING_KEY, started.purchase_id);
      location.assign(started.checkout_url);
      return;
    }
    document.body.dataset.paymentIntent = started.payment_intent_id || "";
    notice(`Payment started with Stripe (reference ${started.payment_intent_id}). Waiting for Stripe to confirm it…`);
    await awaitOutcome(started.purchase_id);
  } catch (error) {
    notice(`Could not start the payment: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

document.getElementById("purchases-more").addEventListener("click", () => loadPurchases(true));

await requireUser();
await Promise.all([loadBalance(), loadPacks(), loadPurchases()]);
// Back from Stripe Checkout (BILLING_SUCCESS_URL or BILLING_CANCEL_URL pointing here).
const returned = sessionStorage.getItem(PENDING_KEY);
if (returned) {
  sessionStorage.removeItem(PENDING_KEY);
  notice("Back from Stripe. Waiting for the payment to be confirmed…");
  await awaitOutcome(returned);
}
