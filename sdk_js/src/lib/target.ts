import { MAX_LENGTH } from "../contract";
import { scrub } from "./text";

/** Form fields: what the visitor types into or picks. */
export const FIELDS = "input,select,textarea";
const SENSITIVE = /pass|card|cc-?(num|csc|exp)|cvc|cvv|iban|ssn|secret|pin\b/i;

/** An attribute's value, or "" when it is missing. */
export const attr = (el: Element, name: string): string => el.getAttribute(name) || "";

export const tag = (el: Element): string => el.tagName.toLowerCase();

/**
 * Fields that must not even be named: passwords, card and bank details, and anything the
 * page marks `data-microx-private`. Their selector and label say only that they exist.
 */
export const isPrivate = (el: Element): boolean =>
  !!el.closest("[data-microx-private]") ||
  (el.matches(FIELDS) &&
    (el.matches("[type=password],[autocomplete^=cc-]") || SENSITIVE.test(attr(el, "name") + " " + el.id)));

function part(el: Element): string {
  let text = tag(el);
  if (el.id) return text + "#" + el.id;
  const name = attr(el, "name");
  if (name) text += `[name="${name}"]`;
  for (const className of [...el.classList].slice(0, 2)) text += "." + className;
  return text;
}

/** A short CSS-like selector: the element, anchored at its nearest ancestor with an id (up to 4 levels up). */
export function selector(el: Element): string {
  if (isPrivate(el)) return tag(el) + "[private]";
  let path = part(el);
  for (let up: Element | null = el, depth = 0; !up.id && depth++ < 4 && (up = up.parentElement);) {
    if (up.id) path = part(up) + " " + path;
  }
  return path.slice(0, MAX_LENGTH.tg);
}

/** The name an element's own attributes give it: `data-microx-name`, else `aria-label`. */
export const named = (el: Element): string => attr(el, "data-microx-name") || attr(el, "aria-label");

/**
 * What a person would call the element. Form fields, and elements holding an editable
 * area, are named by attributes only: their text can be what the visitor typed, which
 * must never leave the page. Other elements' text and aria-label can echo what was typed
 * ("Search for …"): that is cut out (`scrub`). A field's name is kept whole, so its
 * events keep one name whatever is typed into it.
 */
export function label(el: Element): string {
  if (isPrivate(el)) return "";
  const field = el.matches(FIELDS) || (el as HTMLElement).isContentEditable;
  return scrub(
    attr(el, "data-microx-name") ||
      attr(el, "aria-label") ||
      (field ? attr(el, "name") || el.id || (el as HTMLInputElement).labels?.[0]?.textContent : el.textContent),
    MAX_LENGTH.l,
    !field,
  );
}
