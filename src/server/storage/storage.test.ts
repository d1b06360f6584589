// The storage contract on embedded ClickHouse (chDB).
import { openChdbStore } from './chdb-store.ts';
import { storageContract } from './storage-contract.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';

storageContract(() => openChdbStore({ path: tempDir('hd-store-'), database: 'default' }), { dropAfter: false });
