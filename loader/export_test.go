package loader

// StopAndWait stops the run and waits for its group to return, as Close
// does before it computes the run's Stats: a test looks at what is left of
// the run at that instant.
func (it *Iter) StopAndWait() {
	it.stop(errClosed)
	it.run.group.Wait()
}
