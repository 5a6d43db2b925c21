// Package segmenttest is test support for code that works on a segment
// log's files from outside the segment package: end-to-end tests that
// crash, damage and check a log directory. It lists a directory's segments,
// locates the frames of a store as recovery sees them, and damages files in
// place, so that such tests do not carry their own copy of the on-disk
// format (see the segment package's documentation).
//
// Every function takes a testing.TB and fails the test on an I/O error:
// it is meant for tests only.
package segmenttest
