/**
 * A tiny tagged Result. Expected failures are values, not exceptions: callers switch on
 * `error.code` and turn it into a wire error in exactly one place.
 */
export type Ok<T> = { ok: true; value: T };
export type Err<E> = { ok: false; error: E };
export type Result<T, E> = Ok<T> | Err<E>;

export const ok = <T>(value: T): Ok<T> => ({ ok: true, value });
export const err = <E>(error: E): Err<E> => ({ ok: false, error });
