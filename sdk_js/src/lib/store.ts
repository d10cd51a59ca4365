import { guard } from "./safe";

/**
 * Web Storage that never throws: storage is blocked in some privacy modes and sandboxed
 * frames, and full in others; measuring then goes on in memory. Keys live for the visit
 * (sessionStorage), or across visits (`lasting`: localStorage).
 */
const area = (lasting?: boolean): Storage => (lasting ? localStorage : sessionStorage);

/**
 * The value stored under `key`, as the snippet saved it (or a page, or an older version);
 * null or undefined when there is none or storage cannot be read.
 */
export const load = guard(
  // A missing key reads as null, which parses as null.
  // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- JSON.parse(null) is null
  (key: string, lasting?: boolean): unknown => JSON.parse(area(lasting).getItem(key)!),
);

/** Store `value` under `key`, or remove the key when it is undefined (blocked or full: it goes on without). */
export const save = guard((key: string, value: unknown, lasting?: boolean): void => {
  if (value === undefined) area(lasting).removeItem(key);
  else area(lasting).setItem(key, JSON.stringify(value));
});
