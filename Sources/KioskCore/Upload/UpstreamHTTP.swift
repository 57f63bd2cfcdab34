import AsyncHTTPClient
import Foundation
import NIOSSL

/// Station identity on the wire beyond the bearer token: which CA to trust for the upstream's
/// certificate, and the station's own client certificate for mutual TLS (all PEM files).
public struct UpstreamTLS: Sendable, Equatable {
    public var caFile: String?
    public var clientCertificateFile: String?
    public var clientKeyFile: String?
    public init(caFile: String? = nil, clientCertificateFile: String? = nil, clientKeyFile: String? = nil) {
        self.caFile = caFile
        self.clientCertificateFile = clientCertificateFile
        self.clientKeyFile = clientKeyFile
    }

    public struct Problem: Error, CustomStringConvertible, Sendable { public var description: String }

    /// The TLS configuration, or an error naming the setting to fix.
    public func configuration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let caFile {
            do { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) } catch {
                throw Problem(
                    description: "upstream.tls.caFile \(caFile) is not a readable PEM certificate file (\(error))")
            }
        }
        switch (clientCertificateFile, clientKeyFile) {
        case (nil, nil): break
        case (let cert?, let key?):
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            } catch {
                throw Problem(
                    description:
                        "upstream.tls.clientCertificateFile \(cert) is not a readable PEM certificate (\(error))")
            }
            do { tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)) } catch {
                throw Problem(
                    description: "upstream.tls.clientKeyFile \(key) is not a readable PEM private key (\(error))")
            }
        default:
            throw Problem(
                description:
                    "upstream.tls needs both clientCertificateFile and clientKeyFile for mutual TLS (or neither)")
        }
        return tls
    }

    /// An HTTP client for the upstream: connection pooling (tus chunks reuse connections), TLS as configured.
    public func makeHTTPClient() throws -> HTTPClient {
        var c = HTTPClient.Configuration()
        c.tlsConfiguration = try configuration()
        c.connectionPool = .init(idleTimeout: .seconds(60))
        // A refused or unreachable upstream fails the request at once: the uploader has its own
        // backoff with jitter (up to upstream.maxBackoffSeconds). Left on, the pool would dial
        // again every few hundred milliseconds until the connect timeout, for every request,
        // which is all an idle kiosk did with its CPU while the upstream was down.
        c.connectionPool.retryConnectionEstablishment = false
        c.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: c)
    }
}
