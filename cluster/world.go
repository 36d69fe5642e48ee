package cluster

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Names of the variables that set a rank and a world size explicitly.
const (
	EnvRank      = "STORAGEBENCH_RANK"
	EnvWorldSize = "STORAGEBENCH_WORLD_SIZE"
)

// World is a process's place among the processes of one run.
type World struct {
	// Rank is the process's rank, from 0.
	Rank int
	// Size is the number of processes, the world size.
	Size int
	// LocalRank is the rank among the processes of its machine, when the
	// launcher says (torchrun's LOCAL_RANK, SLURM_LOCALID,
	// OMPI_COMM_WORLD_LOCAL_RANK); -1 otherwise.
	LocalRank int
	// Source names the launcher and variables the rank came from; "" for a
	// process that no launcher started, rank 0 of 1.
	Source string
}

// Distributed reports whether a launcher (or the explicit variables) set
// the rank: such a run prints its rank and world size with its results.
func (w World) Distributed() bool { return w.Source != "" }

// A source is one launcher's variables: the rank's, the world size's, and
// the local rank's ("" when it sets none).
type source struct {
	name              string
	rank, size, local string
}

// sources are the launchers, in the order they win when several are
// present. The explicit variables come first; an Indexed Job gives only
// the index, its world size being the Job's completions, which the
// manifest passes as STORAGEBENCH_WORLD_SIZE.
var sources = []source{
	{"explicit", EnvRank, EnvWorldSize, ""},
	{"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
	{"Kubernetes Indexed Job", "JOB_COMPLETION_INDEX", EnvWorldSize, ""},
	{"Slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
	{"Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
}

// FromEnv returns the rank and world size that getenv's variables give:
// STORAGEBENCH_RANK and STORAGEBENCH_WORLD_SIZE when the rank is set;
// otherwise the first launcher whose rank variable is set, of torchrun
// (RANK, WORLD_SIZE, LOCAL_RANK), a Kubernetes Indexed Job
// (JOB_COMPLETION_INDEX, with STORAGEBENCH_WORLD_SIZE), Slurm
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID) and Open MPI
// (OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE); with none, rank 0 of 1.
// STORAGEBENCH_WORLD_SIZE, when set, is the world size whichever launcher
// gives the rank.
//
// Launches nest (torchrun inside a Slurm allocation), so other launchers'
// variables may be present too: when they give another rank or world size,
// FromEnv still uses the first and returns a note saying which disagreed,
// for the caller to log. A rank or world size that is not a number, a
// negative rank, a world size below 1, a rank not below the world size, or
// a world size with no rank variable at all is an error naming the
// variables.
func FromEnv(getenv func(string) string) (World, []string, error) {
	explicitSize := getenv(EnvWorldSize)
	var (
		w     World
		notes []string
		found bool
	)
	for _, s := range sources {
		rs := getenv(s.rank)
		if rs == "" {
			continue
		}
		sizeVar := s.size
		if explicitSize != "" {
			sizeVar = EnvWorldSize
		}
		desc := fmt.Sprintf("%s=%s", s.rank, rs)
		ss := getenv(sizeVar)
		if ss != "" {
			desc += fmt.Sprintf(", %s=%s", sizeVar, ss)
		}
		rank, size, err := parseRank(s, rs, sizeVar, ss)
		if !found {
			if err != nil {
				return World{}, nil, err
			}
			local := -1
			if s.local != "" {
				if n, err := strconv.Atoi(getenv(s.local)); err == nil && n >= 0 {
					local = n
				}
			}
			w = World{Rank: rank, Size: size, LocalRank: local, Source: fmt.Sprintf("%s (%s)", s.name, desc)}
			found = true
			if own := getenv(s.size); sizeVar != s.size && own != "" && own != ss {
				notes = append(notes, fmt.Sprintf("world size %d from %s=%s; %s=%s disagrees and is ignored", size, EnvWorldSize, ss, s.size, own))
			}
			continue
		}
		// A later launcher's variables: only a note when they disagree.
		// Its own world size is compared, not the explicit one.
		if ss2 := getenv(s.size); s.size != EnvWorldSize && ss2 != "" {
			rank, size, err = parseRank(s, rs, s.size, ss2)
			desc = fmt.Sprintf("%s=%s, %s=%s", s.rank, rs, s.size, ss2)
		}
		if err != nil || rank != w.Rank || size != w.Size {
			notes = append(notes, fmt.Sprintf("rank %d of %d from %s; %s (%s) disagrees and is ignored", w.Rank, w.Size, w.Source, s.name, desc))
		}
	}
	if found {
		return w, notes, nil
	}
	// No rank: a world size alone is a launch that lost its rank.
	var sizes []string
	for _, s := range sources {
		if v := getenv(s.size); v != "" && !slices.ContainsFunc(sizes, func(kv string) bool { return strings.HasPrefix(kv, s.size+"=") }) {
			sizes = append(sizes, s.size+"="+v)
		}
	}
	if len(sizes) > 0 {
		return World{}, nil, fmt.Errorf("%s is set but no rank is: set %s, or launch with torchrun (RANK), a Kubernetes Indexed Job (JOB_COMPLETION_INDEX), Slurm (SLURM_PROCID) or Open MPI (OMPI_COMM_WORLD_RANK)",
			strings.Join(sizes, ", "), EnvRank)
	}
	return World{Rank: 0, Size: 1, LocalRank: -1}, nil, nil
}

// parseRank parses a launcher's rank rs (of variable s.rank) and world
// size ss (of variable sizeVar) and checks them.
func parseRank(s source, rs, sizeVar, ss string) (rank, size int, err error) {
	rank, err = strconv.Atoi(rs)
	if err != nil || rank < 0 {
		return 0, 0, fmt.Errorf("%s=%q: want a rank, an integer >= 0 (%s)", s.rank, rs, s.name)
	}
	if ss == "" {
		return 0, 0, fmt.Errorf("%s=%s is set but %s is not: the %s launch gives no world size", s.rank, rs, sizeVar, s.name)
	}
	size, err = strconv.Atoi(ss)
	if err != nil || size < 1 {
		return 0, 0, fmt.Errorf("%s=%q: want a world size, an integer >= 1 (%s)", sizeVar, ss, s.name)
	}
	if rank >= size {
		return 0, 0, fmt.Errorf("%s=%d is not below %s=%d: ranks run from 0 to the world size - 1 (%s)", s.rank, rank, sizeVar, size, s.name)
	}
	return rank, size, nil
}
