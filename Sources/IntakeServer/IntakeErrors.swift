// Every error the intake returns is a JSON `ErrorReply` with a machine code and a message
// saying what to do. This file holds the error type and the middleware that guarantees it.

import Foundation
import Hummingbird
import KioskProtocols
import Logging

/// An error answered as `ErrorReply` JSON with the given status.
public struct IntakeError: Error, Sendable, HTTPResponseError {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var reply: ErrorReply { ErrorReply(error: code, message: message) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        jsonResponse(status: status, reply)
    }

    static func unauthorized(_ message: String) -> IntakeError {
        IntakeError(.unauthorized, "unauthorized", message)
    }

    static func badRequest(_ code: String = "bad-request", _ message: String) -> IntakeError {
        IntakeError(.badRequest, code, message)
    }

    static func notFound(_ message: String) -> IntakeError {
        IntakeError(.notFound, "not-found", message)
    }
}

/// Builds an `application/json` response from an Encodable value.
func jsonResponse(status: HTTPResponse.Status, _ value: some Encodable, headers extra: HTTPFields = [:]) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // Encoding the protocol's plain structs cannot fail; fall back to a fixed body if it ever does.
    let data =
        (try? encoder.encode(value))
        ?? Data(#"{"error":"internal","message":"The server could not encode its reply. Retry later."}"#.utf8)
    var headers = extra
    headers[.contentType] = IntakeAPI.jsonContentType
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// Outermost middleware: turns every thrown error (ours, Hummingbird's, anything else) into
/// an `ErrorReply` JSON response. Logs only the status, code and error type, never bodies.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as IntakeError {
            if error.status.code >= 500 {
                logger.error("request failed", metadata: ["status": "\(error.status.code)", "code": "\(error.code)"])
            }
            return jsonResponse(status: error.status, error.reply)
        } catch let error where ClientFault(error) != nil {
            // The client's doing, not the intake's: a reset, an early close, bytes that are not HTTP.
            switch ClientFault(error) {
            case .malformed:
                logger.notice("malformed request body", metadata: ["path": "\(request.uri.path)"])
                return jsonResponse(
                    status: .badRequest,
                    ErrorReply(
                        error: "malformed-body",
                        message:
                            "The request body is not valid HTTP/1.1 (e.g. a chunk size that is not hex, or a chunk without its CRLF). Nothing from it was kept; send the request again with a Content-Length or well-formed chunks."
                    ))
            case .reset:
                logger.notice(
                    "request cut off: connection reset by the client", metadata: ["path": "\(request.uri.path)"])
            default:
                logger.notice(
                    "request cut off: the client closed the connection", metadata: ["path": "\(request.uri.path)"])
            }
            return jsonResponse(
                status: .badRequest,
                ErrorReply(
                    error: "body-cut-off", message: "The connection ended before the request body did. Send it again."))
        } catch let error as any HTTPResponseError {
            let reply = Self.reply(for: error.status, request: request)
            return jsonResponse(status: error.status, reply)
        } catch {
            // Log the type only: descriptions of arbitrary errors could quote request data.
            logger.error("unexpected error", metadata: ["type": "\(type(of: error))", "path": "\(request.uri.path)"])
            return jsonResponse(
                status: .internalServerError,
                ErrorReply(
                    error: "internal",
                    message:
                        "The intake failed to process the request (\(type(of: error))). Nothing was stored by this request if it did not succeed; retry later and report it to the intake operator if it persists."
                ))
        }
    }

    static func reply(for status: HTTPResponse.Status, request: Request) -> ErrorReply {
        switch status {
        case .notFound:
            ErrorReply(
                error: "not-found",
                message:
                    "No such route: \(request.method) \(request.uri.path). See docs/intake-openapi.yaml for the routes of kiosk-intake protocol \(IntakeAPI.protocolVersion)."
            )
        case .contentTooLarge:
            ErrorReply(
                error: "too-large", message: "The request body is larger than this intake accepts. Send a smaller body."
            )
        case .badRequest:
            ErrorReply(
                error: "bad-request",
                message:
                    "The request could not be parsed. Check the URL, headers and body against docs/intake-openapi.yaml."
            )
        case .methodNotAllowed:
            ErrorReply(
                error: "method-not-allowed",
                message: "\(request.method) is not supported on \(request.uri.path). See docs/intake-openapi.yaml.")
        default:
            ErrorReply(
                error: status.code >= 500 ? "internal" : "http-\(status.code)",
                message:
                    "The intake answered \(status.code) \(status.reasonPhrase). Retry later; report it to the intake operator if it persists."
            )
        }
    }
}
