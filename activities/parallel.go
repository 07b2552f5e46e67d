package activities

import (
	"runtime"
	"sync"
)

// parallel calls fn(i) for every i in [0, n), split into one contiguous
// chunk per CPU. fn must only write to what index i owns. Used for the pure,
// CPU-bound steps of a batch (decoding, JSON, keys), while PostgreSQL waits.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/256+1)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				fn(i)
			}
		})
	}
	wg.Wait()
}
