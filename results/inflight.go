package results

import (
	"errors"
	"strconv"

	"github.com/storagebench/storagebench/loader"
)

// InFlight returns C, the reads a Load point's loader can have in flight,
// from the mode, workers, batch and fetch of its name by the loader's own
// rule (an absent fetch is the loader's default); 0 when the name does not
// say, or says what the loader refuses.
func InFlight(p *Point) int {
	mode, merr := loader.ParseMode(p.NameKey(KeyMode))
	workers, werr := strconv.Atoi(p.NameKey(KeyWorkers))
	batch, berr := strconv.Atoi(p.NameKey(KeyBatch))
	fetch, ferr := 0, error(nil)
	if s := p.NameKey(KeyFetch); s != "" {
		fetch, ferr = strconv.Atoi(s)
	}
	if errors.Join(merr, werr, berr, ferr) != nil {
		return 0
	}
	return loader.Options{Mode: mode, Workers: workers, BatchSize: batch, FetchConcurrency: fetch}.InFlight()
}
