/**
 * The host's transparent hugepage settings (containers share its kernel), as read from
 * /sys/kernel/mm/transparent_hugepage.
 */
export interface HugepageSettings {
  /** The selected value of `enabled`: always, madvise or never. */
  readonly enabled: string | null;
  /** The selected value of `defrag`. */
  readonly defrag: string | null;
  /** `khugepaged/max_ptes_none`. */
  readonly maxPtesNone: number | null;
}

/** The files `readHugepageSettings` parses, in order. */
export const HUGEPAGE_FILES = [
  '/sys/kernel/mm/transparent_hugepage/enabled',
  '/sys/kernel/mm/transparent_hugepage/defrag',
  '/sys/kernel/mm/transparent_hugepage/khugepaged/max_ptes_none',
] as const;

/** `always [madvise] never` → `madvise`: the kernel marks the selected value with brackets. */
export function selectedValue(text: string): string | null {
  return /\[([^\]]+)\]/.exec(text)?.[1] ?? null;
}

/** What MongoDB asks of transparent hugepages, by version. */
interface HugepageWanted {
  readonly enabled: string;
  readonly defrag: string;
  readonly maxPtesNone: number | null;
}

/**
 * 8.0 runs a TCMalloc built for huge pages and asks for THP `always`, defrag
 * `defer+madvise` and `max_ptes_none` 0; earlier versions ask for THP off
 * (`never`), as their production notes say.
 */
function wantedFor(version: string): HugepageWanted {
  return Number(version.split('.')[0]) >= 8
    ? { enabled: 'always', defrag: 'defer+madvise', maxPtesNone: 0 }
    : { enabled: 'never', defrag: 'never', maxPtesNone: null };
}

/** A doctor check's verdict on the host's THP settings for MongoDB `version`. */
export interface HugepageVerdict {
  readonly status: 'ok' | 'warn';
  readonly detail: string;
  readonly fix?: string;
}

/** Compares the host's THP settings with what MongoDB `version` wants, and says what to run when they differ. */
export function checkHugepages(version: string, actual: HugepageSettings): HugepageVerdict {
  const wanted = wantedFor(version);
  const wrong: string[] = [];
  const commands: string[] = [];
  if (actual.enabled !== wanted.enabled) {
    wrong.push(`enabled is ${actual.enabled ?? 'unreadable'}, wanted ${wanted.enabled}`);
    commands.push(`echo ${wanted.enabled} | sudo tee ${HUGEPAGE_FILES[0]}`);
  }
  if (actual.defrag !== wanted.defrag) {
    wrong.push(`defrag is ${actual.defrag ?? 'unreadable'}, wanted ${wanted.defrag}`);
    commands.push(`echo ${wanted.defrag} | sudo tee ${HUGEPAGE_FILES[1]}`);
  }
  if (wanted.maxPtesNone !== null && actual.maxPtesNone !== wanted.maxPtesNone) {
    wrong.push(`khugepaged/max_ptes_none is ${actual.maxPtesNone ?? 'unreadable'}, wanted ${wanted.maxPtesNone}`);
    commands.push(`echo ${wanted.maxPtesNone} | sudo tee ${HUGEPAGE_FILES[2]}`);
  }
  if (wrong.length === 0)
    return { status: 'ok', detail: `as MongoDB ${version} wants (enabled ${wanted.enabled}, defrag ${wanted.defrag})` };
  return {
    status: 'warn',
    detail: `MongoDB ${version} runs slower with these settings: ${wrong.join('; ')}`,
    // Writes to /sys last until reboot; a boot-time unit or kernel parameter makes them stick.
    fix: `${commands.join(' && ')} (until reboot; repeat it from a boot-time unit to keep it)`,
  };
}

/** Parses the three THP files' contents (in HUGEPAGE_FILES order; an unreadable one as null). */
export function parseHugepageSettings(
  enabled: string | null,
  defrag: string | null,
  maxPtesNone: string | null,
): HugepageSettings {
  const ptes = maxPtesNone === null ? Number.NaN : Number.parseInt(maxPtesNone.trim(), 10);
  return {
    enabled: enabled === null ? null : selectedValue(enabled),
    defrag: defrag === null ? null : selectedValue(defrag),
    maxPtesNone: Number.isNaN(ptes) ? null : ptes,
  };
}
