/**
 * Named channels between the parts of the snippet (page activity, clicks, routes, errors,
 * leaving the page) and out to the page (`on("frustration", ...)`).
 */
export type Listener = (detail: Record<string, unknown>) => void;

// The channels between captures, named only here (the page's own is "frustration").
/** A click; detail: the element it was meant for. */
export const CLICKED = "c";
/** An uncaught error or rejection; detail: its message. */
export const FAILED = "e";
/** The page is being left. */
export const LEAVING = "l";
/** A route changed; detail: the URL left. */
export const ROUTED = "r";

/** Each channel's detail. */
interface Details {
  [CLICKED]: Element;
  [FAILED]: string;
  [LEAVING]: undefined;
  [ROUTED]: string;
  frustration: Record<string, unknown>;
}

type Channel = keyof Details;

/** Each channel's listeners, which take that channel's detail. */
const listeners: { [name: string]: ((detail: never) => void)[] | undefined } = {};

/** Listen on a channel. */
export function listen<Name extends Channel>(name: Name, listener: (detail: Details[Name]) => void): void {
  (listeners[name] ||= []).push(listener);
}

/** Tell a channel's listeners; one that throws (a capture's bug, a page's callback) stops no other. */
export function fire(name: typeof LEAVING): void;
export function fire<Name extends Channel>(name: Name, detail: Details[Name]): void;
export function fire<Name extends Channel>(name: Name, detail?: Details[Name]): void {
  for (const listener of listeners[name] || []) {
    try {
      (listener as (detail?: Details[Name]) => void)(detail);
    } catch {
      // Swallowed: measurement must never break the page.
    }
  }
}
