"""`similar` groups that stay useful: near groups (or single images) linked by unconfirmed candidate
pairs are gathered by connected component, and a component larger than the cap is split into
communities (Louvain on the candidate graph, weighted by score, seeded so a run repeats), again inside
any community still too large; what no community can split is cut into cap-sized pieces in path
order. Similar links never cross a "not a duplicate" decision."""

from __future__ import annotations

from collections.abc import Sequence

SimilarLink = tuple[int, int, float]  # (node a, node b, best score)


def _split(nodes: list[int], links: dict[tuple[int, int], float], sizes: Sequence[int], cap: int,
           seed: int, depth: int = 0) -> list[list[int]]:
    import networkx as nx

    if sum(sizes[n] for n in nodes) <= cap:
        return [nodes]
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    inside = set(nodes)
    graph.add_weighted_edges_from((a, b, w) for (a, b), w in links.items() if a in inside and b in inside)
    communities = [sorted(c) for c in nx.community.louvain_communities(graph, weight="weight", seed=seed,
                                                                       resolution=1.0 + depth)]
    if len(communities) <= 1 or depth >= 4:
        pieces: list[list[int]] = [[]]
        for node in sorted(nodes):
            if pieces[-1] and sum(sizes[n] for n in pieces[-1]) + sizes[node] > cap:
                pieces.append([])
            pieces[-1].append(node)
        return pieces
    return [piece for community in sorted(communities) for piece in _split(community, links, sizes, cap, seed,
                                                                            depth + 1)]


def similar_components(count: int, links: list[SimilarLink], sizes: Sequence[int], cap: int,
                       seed: int = 0) -> tuple[list[list[int]], int]:
    """Groups of nodes (0..count-1; node n holds sizes[n] images) joined by similar links, none larger
    than `cap` images where a split allows; returns them and how many components had to be split."""
    import networkx as nx

    best: dict[tuple[int, int], float] = {}
    for a, b, score in links:
        key = (a, b) if a < b else (b, a)
        if a != b and score > best.get(key, -2.0):
            best[key] = score
    graph = nx.Graph()
    graph.add_nodes_from(range(count))
    graph.add_edges_from(best)
    groups: list[list[int]] = []
    split = 0
    for component in nx.connected_components(graph):
        nodes = sorted(component)
        if len(nodes) < 2:
            continue
        pieces = _split(nodes, best, sizes, cap, seed)
        split += len(pieces) > 1
        groups.extend(piece for piece in pieces if len(piece) > 1)
    return groups, split
