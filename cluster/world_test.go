package cluster

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		want  World
		notes []string // substrings, one per note
		err   string   // error substring; "" for success
	}{
		{name: "none", want: World{Rank: 0, Size: 1, LocalRank: -1}},
		{name: "explicit", env: map[string]string{"STORAGEBENCH_RANK": "2", "STORAGEBENCH_WORLD_SIZE": "4"},
			want: World{Rank: 2, Size: 4, LocalRank: -1, Source: "explicit (STORAGEBENCH_RANK=2, STORAGEBENCH_WORLD_SIZE=4)"}},
		{name: "torchrun", env: map[string]string{"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1"},
			want: World{Rank: 3, Size: 8, LocalRank: 1, Source: "torchrun (RANK=3, WORLD_SIZE=8)"}},
		{name: "indexed job", env: map[string]string{"JOB_COMPLETION_INDEX": "1", "STORAGEBENCH_WORLD_SIZE": "4"},
			want: World{Rank: 1, Size: 4, LocalRank: -1, Source: "Kubernetes Indexed Job (JOB_COMPLETION_INDEX=1, STORAGEBENCH_WORLD_SIZE=4)"}},
		{name: "slurm", env: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_LOCALID": "0"},
			want: World{Rank: 0, Size: 2, LocalRank: 0, Source: "Slurm (SLURM_PROCID=0, SLURM_NTASKS=2)"}},
		{name: "open mpi", env: map[string]string{"OMPI_COMM_WORLD_RANK": "5", "OMPI_COMM_WORLD_SIZE": "6", "OMPI_COMM_WORLD_LOCAL_RANK": "1"},
			want: World{Rank: 5, Size: 6, LocalRank: 1, Source: "Open MPI (OMPI_COMM_WORLD_RANK=5, OMPI_COMM_WORLD_SIZE=6)"}},
		// torchrun inside an sbatch allocation of one task: torchrun wins,
		// Slurm's view disagrees and is noted, never fatal.
		{name: "torchrun in slurm", env: map[string]string{"RANK": "3", "WORLD_SIZE": "4", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"},
			want:  World{Rank: 3, Size: 4, LocalRank: -1, Source: "torchrun (RANK=3, WORLD_SIZE=4)"},
			notes: []string{"Slurm (SLURM_PROCID=0, SLURM_NTASKS=1) disagrees and is ignored"}},
		{name: "agreeing launchers", env: map[string]string{"RANK": "1", "WORLD_SIZE": "2", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"},
			want: World{Rank: 1, Size: 2, LocalRank: -1, Source: "torchrun (RANK=1, WORLD_SIZE=2)"}},
		{name: "explicit over torchrun", env: map[string]string{"STORAGEBENCH_RANK": "0", "STORAGEBENCH_WORLD_SIZE": "2", "RANK": "1", "WORLD_SIZE": "2"},
			want:  World{Rank: 0, Size: 2, LocalRank: -1, Source: "explicit (STORAGEBENCH_RANK=0, STORAGEBENCH_WORLD_SIZE=2)"},
			notes: []string{"torchrun (RANK=1, WORLD_SIZE=2) disagrees"}},
		{name: "explicit world over torchrun's", env: map[string]string{"STORAGEBENCH_WORLD_SIZE": "4", "RANK": "1", "WORLD_SIZE": "2"},
			want:  World{Rank: 1, Size: 4, LocalRank: -1, Source: "torchrun (RANK=1, STORAGEBENCH_WORLD_SIZE=4)"},
			notes: []string{"WORLD_SIZE=2 disagrees"}},
		{name: "broken later launcher", env: map[string]string{"RANK": "1", "WORLD_SIZE": "2", "SLURM_PROCID": "x", "SLURM_NTASKS": "2"},
			want:  World{Rank: 1, Size: 2, LocalRank: -1, Source: "torchrun (RANK=1, WORLD_SIZE=2)"},
			notes: []string{"Slurm (SLURM_PROCID=x, SLURM_NTASKS=2) disagrees"}},
		{name: "rank not below world", env: map[string]string{"RANK": "4", "WORLD_SIZE": "4"}, err: "RANK=4 is not below WORLD_SIZE=4"},
		{name: "negative rank", env: map[string]string{"SLURM_PROCID": "-1", "SLURM_NTASKS": "4"}, err: `SLURM_PROCID="-1": want a rank`},
		{name: "non-numeric world", env: map[string]string{"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "four"}, err: `OMPI_COMM_WORLD_SIZE="four": want a world size`},
		{name: "zero world", env: map[string]string{"STORAGEBENCH_RANK": "0", "STORAGEBENCH_WORLD_SIZE": "0"}, err: `STORAGEBENCH_WORLD_SIZE="0"`},
		{name: "index without world", env: map[string]string{"JOB_COMPLETION_INDEX": "2"}, err: "JOB_COMPLETION_INDEX=2 is set but STORAGEBENCH_WORLD_SIZE is not"},
		{name: "rank without world", env: map[string]string{"STORAGEBENCH_RANK": "1"}, err: "STORAGEBENCH_RANK=1 is set but STORAGEBENCH_WORLD_SIZE is not"},
		{name: "world without rank", env: map[string]string{"STORAGEBENCH_WORLD_SIZE": "4"}, err: "STORAGEBENCH_WORLD_SIZE=4 is set but no rank is"},
		{name: "torchrun world without rank", env: map[string]string{"WORLD_SIZE": "4", "SLURM_NTASKS": "2"}, err: "WORLD_SIZE=4, SLURM_NTASKS=2 is set but no rank is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, notes, err := FromEnv(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("FromEnv = %+v, %v; want an error containing %q", w, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			if diff := cmp.Diff(tc.want, w); diff != "" {
				t.Errorf("FromEnv (-want +got):\n%s", diff)
			}
			if len(notes) != len(tc.notes) {
				t.Fatalf("notes %q, want %d containing %q", notes, len(tc.notes), tc.notes)
			}
			for i, n := range tc.notes {
				if !strings.Contains(notes[i], n) {
					t.Errorf("note %q, want one containing %q", notes[i], n)
				}
			}
		})
	}
}
