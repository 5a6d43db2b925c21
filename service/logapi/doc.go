// Package logapi holds the vocabulary shared by the service and the logs
// it serves: the Append that travels through a log, the Commit a log
// delivers, its storage Stats, and the errors a log wraps so that the
// service can answer them with the right wire code.
//
// It exists so that an implementation of service.Log, such as package
// service/local, need not import package service: the interface is the
// service's (service.Log), and service re-exports every name here. Code
// outside the two sides should use the service names.
package logapi
