// Our own thin storage interface: the rest of the server speaks ClickHouse SQL through it
// and never sees which engine (embedded chDB or a ClickHouse server) is underneath.
export type QueryParams = Record<string, string | number | boolean | bigint | string[]>;

export interface Store {
  readonly kind: 'chdb' | 'clickhouse';
  /** Database all tables live in (validated identifier). */
  readonly database: string;
  /** DDL and statements without a result. */
  exec(sql: string): Promise<void>;
  /** Parameterised query ({name:Type} placeholders) returning rows as objects. */
  query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]>;
  /** Inserts newline-delimited JSON rows; resolves only once stored. Compact rows need their columns. */
  insertJsonLines(table: string, body: Buffer, columns?: readonly string[]): Promise<void>;
  /** Inserts ClickHouse Native blocks (ingest's exchange rows); resolves only once stored. */
  insertNative(table: string, body: Buffer, columns: readonly string[]): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
