/**
 * The parts of Incus' JSON (`--format json`) that distctl reads. Server-computed
 * keys (volatile.*, image.*, expanded_*) are read for observation but never
 * diffed, so defaults never show up as drift.
 */

export interface IncusAddress {
  readonly family: 'inet' | 'inet6' | string;
  readonly address: string;
  readonly netmask: string;
  readonly scope: string;
}

export interface IncusInstance {
  readonly name: string;
  readonly status: string;
  readonly type: string;
  readonly project?: string;
  /** The cluster member the instance lives on; `none` on a server that is not clustered. */
  readonly location?: string;
  readonly config: Readonly<Record<string, string>>;
  /** The config with the profiles' keys applied (server-computed: read, never diffed). */
  readonly expanded_config?: Readonly<Record<string, string>>;
  readonly devices: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly state?: {
    readonly status: string;
    readonly network?: Readonly<Record<string, { readonly addresses?: readonly IncusAddress[] }>> | null;
    /** CPU time used since start, in nanoseconds. */
    readonly cpu?: { readonly usage?: number } | null;
    /** Bytes; `total` is the memory limit when one applies, else the host's memory. */
    readonly memory?: { readonly usage?: number; readonly total?: number } | null;
    /** Per disk device, bytes used; empty when the storage driver does not track usage. */
    readonly disk?: Readonly<Record<string, { readonly usage?: number }>> | null;
    readonly processes?: number;
  } | null;
}

/** One member of an Incus cluster, as `incus cluster list --format json` reports it. */
export interface IncusClusterMember {
  readonly server_name: string;
  readonly url: string;
  /** `Online`, `Offline`, `Evacuated`, `Blocked`, ... as the cluster reports it. */
  readonly status: string;
  readonly message: string;
  readonly roles: readonly string[] | null;
  readonly failure_domain?: string;
}

export interface IncusNetwork {
  readonly name: string;
  readonly type: string;
  readonly managed: boolean;
  readonly description: string;
  readonly config: Readonly<Record<string, string>>;
  readonly used_by: readonly string[] | null;
  /** `Created`, or `Pending` while a cluster network is defined on some members only. */
  readonly status?: string;
  /** Cluster members the network is defined on (`none` on a server that is not clustered). */
  readonly locations?: readonly string[] | null;
}

export interface IncusProject {
  readonly name: string;
  readonly description: string;
  readonly config: Readonly<Record<string, string>>;
  readonly used_by: readonly string[] | null;
}

export interface IncusImage {
  readonly fingerprint: string;
  readonly aliases: readonly { readonly name: string }[] | null;
  readonly size: number;
}

/** Config key marking a resource as distctl's; its value names the distctl project that owns it. */
export const OWNER_KEY = 'user.distctl.owner';
/** Config key holding the cluster member distctl placed an instance on (its `target:` or spread's choice). */
export const PLACEMENT_KEY = 'user.distctl.member';
/** Config key holding the topology container name an instance was created for. */
export const ROLE_KEY = 'user.distctl.container';
