// The app's data, kept in memory: every page load starts from the same contacts.
// Ids as real apps have them: short random ones and UUIDs.
const contacts = [
  { id: "16odw8b", first: "Ada", last: "Lovelace" },
  { id: "9c1f2e04-7b3d-4a51-8e6f-2d0c5b7a9e13", first: "Grace", last: "Hopper" },
  { id: "x7k2m9p", first: "Alan", last: "Turing" },
];

/** How long each server round trip takes: known, so a test can tell what it measured. */
export const CREATE_MS = 1500;
export const SEARCH_MS = 800;

export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

export async function listContacts(q) {
  if (q) await sleep(SEARCH_MS);
  const term = (q || "").toLowerCase();
  return contacts.filter((c) => `${c.first} ${c.last}`.toLowerCase().includes(term));
}

export function getContact(id) {
  return contacts.find((c) => c.id === id) || null;
}

export async function createContact() {
  await sleep(CREATE_MS);
  const contact = { id: crypto.randomUUID(), first: "", last: "" };
  contacts.unshift(contact);
  return contact;
}

export function updateContact(id, fields) {
  Object.assign(getContact(id), fields);
}

export function deleteContact(id) {
  contacts.splice(contacts.indexOf(getContact(id)), 1);
}
