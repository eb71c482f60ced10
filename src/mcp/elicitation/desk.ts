/**
 * The one way /mcp reaches a connection's elicitation desk in the person's object
 * (session/elicitations.ts): the desk is an RpcTarget, so each use gets an RPC stub, and the stub
 * is released as soon as the use is done. A stub left open pins the object in memory (it could
 * never be evicted), so nothing else may hold one.
 */
import type { AuthProps } from "../../identity/props";
import { sessionFor } from "../../session/user-session";

type Desk = Awaited<ReturnType<ReturnType<typeof sessionFor>["elicitations"]>>;

/** `Symbol.dispose`: workerd has it; the ES2023 lib this project compiles against does not name it. */
const DISPOSE = (Symbol as unknown as { dispose: symbol }).dispose;

/** Run `use` on the desk of `props`' connection, releasing the stub afterwards. */
export async function withDesk<T>(
  env: Env,
  props: Pick<AuthProps, "userId" | "connectionId">,
  use: (desk: Desk) => PromiseLike<T>,
): Promise<T> {
  const desk = await sessionFor(env.SESSION, props.userId).elicitations(props.connectionId);
  const release = (desk as unknown as Record<symbol, (() => void) | undefined>)[DISPOSE];
  try {
    // Loud, not silent: an unreleased stub would pin the object on every call.
    if (!release) throw new Error("this runtime cannot release an RPC stub");
    return await use(desk);
  } finally {
    release?.call(desk);
  }
}
