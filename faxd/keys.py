"""``faxd keys new ID``: a line for the document key file (encryption at rest), with a fresh
random AES-256 key; ``faxd keys check``: the configured key file parses, and which key is current."""
from __future__ import annotations


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    new = sub.add_parser("new", help="print a key file line with a fresh random key")
    new.add_argument("key_id", help="the key's name, e.g. k2026 (letters, digits, '.', '_', '-')")
    sub.add_parser("check", help="read the configured document_key_file and name its current key")


def main(args, config) -> int:
    from faxd.store.crypto import DocumentCipher, new_key_line
    if args.keys_command == "new":
        print(new_key_line(args.key_id))
        return 0
    cipher = DocumentCipher.from_config(config)
    if cipher is None:
        print("faxd: no document_key_file configured: documents are stored unencrypted")
        return 1
    print(f"faxd: {config.document_key_file}: new documents are sealed with key {cipher.current}")
    return 0
