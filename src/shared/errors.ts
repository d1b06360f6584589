// Errors carry a stable code so callers (and tests) branch on it, never on message text.
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'STORAGE_UNAVAILABLE'
  | 'STORAGE_QUERY'
  | 'BATCH_INVALID'
  | 'OVERLOADED'
  | 'CAPTURE_UNAVAILABLE'
  | 'BAD_PARAMETER'
  | 'NOT_FOUND';

export class HeimdallError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'HeimdallError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
