// The storage contract on embedded ClickHouse (chDB).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openChdbStore } from './chdb-store.ts';
import { storageContract } from './storage-contract.ts';

storageContract(() => openChdbStore({ path: mkdtempSync(join(tmpdir(), 'hd-store-')), database: 'default' }), { dropAfter: false });
