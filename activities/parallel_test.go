package activities

import "testing"

func TestParallelCallsEachIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 1000, 20001} {
		calls := make([]int, n)
		parallel(n, func(i int) { calls[i]++ })
		for i, c := range calls {
			if c != 1 {
				t.Fatalf("n=%d: index %d called %d times", n, i, c)
			}
		}
	}
}
