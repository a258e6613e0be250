import idna


def main() -> None:
    print(idna.encode("bücher.example").decode())
