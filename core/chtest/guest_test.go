package chtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGuestCounters(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  string
		want []int
	}{
		{"empty", "", nil},
		{"no marker", "0\n1\n", nil},
		{"marker only", GuestReadyMarker + "\n", nil},
		{"counting", GuestReadyMarker + "\n0\n1\n2\n", []int{0, 1, 2}},
		{"crlf", GuestReadyMarker + "\r\n0\r\n1\r\n", []int{0, 1}},
		{"unterminated last line", GuestReadyMarker + "\n0\n1\n1", []int{0, 1}},
		{"numbers before the marker are not counters", "7\n" + GuestReadyMarker + "\n0\n", []int{0}},
		{"noise before the marker on its line", "\x1b[0mboot" + GuestReadyMarker + "\n0\n", []int{0}},
		{"other lines ignored", GuestReadyMarker + "\n0\nhello 1\n-1\n\n1\n", []int{0, 1}},
		{"restart", GuestReadyMarker + "\n0\n1\n" + GuestReadyMarker + "\n0\n", []int{0, 1, 0}},
		{"large", GuestReadyMarker + "\n4294967295\n", []int{4294967295}},
		{"too long", GuestReadyMarker + "\n12345678901\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, GuestCounters([]byte(tc.log)))
		})
	}
}

func TestGuestReady(t *testing.T) {
	assert.False(t, GuestReady(nil))
	assert.False(t, GuestReady([]byte(GuestReadyMarker)), "marker line not yet complete")
	assert.False(t, GuestReady([]byte("CHVMM-GUEST\n")))
	assert.True(t, GuestReady([]byte(GuestReadyMarker+"\n")))
	assert.True(t, GuestReady([]byte("noise\n"+GuestReadyMarker+"\r\n0\n")))
}
