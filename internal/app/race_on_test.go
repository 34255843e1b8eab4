//go:build race

package app

// raceEnabled: the race detector slows the media path several times over.
const raceEnabled = true
