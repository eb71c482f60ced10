/**
 * The one Node.js module the Worker uses (nodejs_compat provides it at runtime). Declared here
 * rather than pulling all of @types/node into the Worker's types.
 */
declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    getStore(): T | undefined;
    run<R>(store: T, callback: () => R): R;
  }
}
