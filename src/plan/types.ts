import type { DerivedContainer, DerivedNetwork, DerivedProxy } from '../derive/types.js';
import type { StaticAddress } from './static-address.js';

/** One change `up` makes to Incus. Data only: `describeAction` words it, `incusCallsFor` turns it into calls. */
export type Action =
  | { readonly kind: 'create-project'; readonly project: string }
  | {
      readonly kind: 'create-network';
      readonly network: DerivedNetwork;
      readonly config: Readonly<Record<string, string>>;
      /** Cluster members the bridge is first defined on (`--target`), in order; empty on one server. */
      readonly members: readonly string[];
    }
  | { readonly kind: 'update-network'; readonly network: string; readonly set: Readonly<Record<string, string>> }
  | {
      readonly kind: 'create-instance';
      readonly container: DerivedContainer;
      /** The cluster member it is created on (`--target`): its `target:` or spread's choice; null: Incus chooses. */
      readonly member: string | null;
    }
  | { readonly kind: 'set-nic'; readonly container: DerivedContainer; readonly replace: boolean; readonly from: string }
  /** eth0's static address written into the container (see static-address.ts); `from` is the previous record. */
  | {
      readonly kind: 'write-address';
      readonly container: string;
      readonly address: StaticAddress;
      readonly from: string | null;
    }
  | { readonly kind: 'start-instance'; readonly container: string; readonly resume: boolean }
  | { readonly kind: 'restart-instance'; readonly container: string; readonly reason: string }
  | { readonly kind: 'add-proxy'; readonly proxy: DerivedProxy }
  | { readonly kind: 'set-proxy'; readonly proxy: DerivedProxy; readonly from: string }
  | { readonly kind: 'remove-proxy'; readonly container: string; readonly device: string }
  | { readonly kind: 'delete-instance'; readonly container: string; readonly reason: string }
  | { readonly kind: 'delete-network'; readonly network: string }
  | { readonly kind: 'delete-project'; readonly project: string };

/** Something that stops `up` before it changes anything: the fix is the user's. */
export interface Conflict {
  readonly code: string;
  readonly subject: string;
  readonly message: string;
  readonly hint: string;
}

/** Differences reported but not acted on (act with a flag). */
export interface Notice {
  readonly code: string;
  readonly subject: string;
  readonly message: string;
}

/** The ordered result of diffing desired against observed state. */
export interface Plan {
  readonly project: string;
  /** The Incus remote the plan's calls address (null: the client's default). */
  readonly remote: string | null;
  readonly actions: readonly Action[];
  readonly conflicts: readonly Conflict[];
  readonly notices: readonly Notice[];
}
