/**
 * The part of better-sqlite3's API Causeway uses (the package ships no types, and
 * @types/better-sqlite3 is not a dependency). https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md
 */
declare module 'better-sqlite3' {
  namespace Database {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }
    interface Statement {
      run(...params: unknown[]): RunResult;
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
      iterate(...params: unknown[]): IterableIterator<unknown>;
      raw(toggle?: boolean): this;
      pluck(toggle?: boolean): this;
    }
    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      timeout?: number;
    }
    type Transaction<F extends (...args: never[]) => unknown> = F & { deferred: F; immediate: F; exclusive: F };
    interface Database {
      readonly open: boolean;
      readonly inTransaction: boolean;
      prepare(sql: string): Statement;
      exec(sql: string): this;
      pragma(source: string, options?: { simple?: boolean }): unknown;
      /** Calling it runs BEGIN (DEFERRED); `.immediate()` runs BEGIN IMMEDIATE (the write lock first). */
      transaction<F extends (...args: never[]) => unknown>(fn: F): Transaction<F>;
      close(): this;
    }
  }
  interface DatabaseConstructor {
    new (filename: string, options?: Database.Options): Database.Database;
    (filename: string, options?: Database.Options): Database.Database;
  }
  const Database: DatabaseConstructor;
  export = Database;
}
