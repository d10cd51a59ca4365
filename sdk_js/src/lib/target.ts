import { MAX_LENGTH } from "../contract";
import { clip } from "./text";

const FIELD = /^(INPUT|TEXTAREA|SELECT)$/;
const SENSITIVE = /pass|card|cc-?(num|csc|exp)|cvc|cvv|iban|ssn|secret|pin\b/i;

/** The element a click was meant for: the nearest interactive ancestor, else the element itself. */
export function actionable(el: Element): Element {
  return (
    el.closest(
      "a,button,input,select,textarea,label,summary,[role=button],[role=link],[role=tab],[role=menuitem],[role=checkbox],[onclick],[data-microx-name]",
    ) || el
  );
}

/**
 * Fields that must not even be named: passwords, card and bank details, and anything the
 * page marks `data-microx-private`. Their selector and label say only that they exist.
 */
export function isPrivate(el: Element): boolean {
  const a = (n: string): string => el.getAttribute(n) || "";
  return (
    !!el.closest("[data-microx-private]") ||
    (FIELD.test(el.tagName) &&
      (a("type") === "password" || /^cc-/.test(a("autocomplete")) || SENSITIVE.test(a("name") + " " + el.id)))
  );
}

function part(el: Element): string {
  let s = el.tagName.toLowerCase();
  if (el.id) return `${s}#${el.id}`;
  const name = el.getAttribute("name");
  if (name) s += `[name="${name}"]`;
  const classes = el.classList;
  for (let i = 0; i < classes.length && i < 2; i++) s += `.${classes[i]}`;
  return s;
}

/** A short CSS-like selector: the element, anchored at its nearest ancestor with an id. */
export function selector(el: Element): string {
  if (isPrivate(el)) return `${el.tagName.toLowerCase()}[private]`;
  let s = part(el);
  let up = el.parentElement;
  for (let depth = 0; up && !el.id && depth < 4; depth++, up = up.parentElement) {
    if (up.id) {
      s = `${part(up)} ${s}`;
      break;
    }
  }
  return s.slice(0, MAX_LENGTH.tg);
}

/**
 * What a person would call the element. Form fields are named by attributes only: their
 * text content can hold a typed or default value, which must never leave the page.
 */
export function label(el: Element): string {
  if (isPrivate(el)) return "";
  const named = el.getAttribute("data-microx-name") || el.getAttribute("aria-label");
  if (named) return clip(named, MAX_LENGTH.l);
  if (FIELD.test(el.tagName) || (el as HTMLElement).isContentEditable) {
    const labels = (el as HTMLInputElement).labels;
    return clip(el.getAttribute("name") || el.id || (labels && labels[0] ? labels[0].textContent : ""), MAX_LENGTH.l);
  }
  return clip(el.textContent, MAX_LENGTH.l);
}
