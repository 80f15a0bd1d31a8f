import { MemoryUserStore } from '../../../src/services/auth/users.js';
import { MemoryProductShardStore } from '../../../src/services/web/products.js';
import { productShardStoreContract, userStoreContract } from './contract.js';

userStoreContract('in-memory', async () => new MemoryUserStore());
productShardStoreContract('in-memory', async (shard) => new MemoryProductShardStore(shard));
