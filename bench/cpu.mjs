// CPU time that workerd processes spend, read from /proc: a per-request cost
// that, unlike throughput, hardly moves when other work shares the machine.
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100;

/** The pids of this process's workerd children. */
export function workerdChildren() {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.includes("(workerd)") && statFields(stat)[1] === String(process.pid);
      } catch {
        return false;
      }
    });
}

/** User plus system CPU milliseconds the processes have used so far. */
export function cpuMillis(pids) {
  return pids.reduce((total, pid) => {
    try {
      const fields = statFields(readFileSync(`/proc/${pid}/stat`, "utf8"));
      return total + ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
    } catch {
      return total;
    }
  }, 0);
}

/** The fields after `pid (comm)`: state, ppid, … (utime is [11], stime [12]). */
function statFields(stat) {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}
