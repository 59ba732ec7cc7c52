// The right-click menu of a node or a link on the canvas.
import { useEffect, useRef } from "react";

export interface MenuItem {
  label: string;
  onSelect?: () => void;
  /** Shown greyed out with this reason as its tooltip (and in the menu's text). */
  disabled?: string;
  /** A line of information, not an action. */
  info?: boolean;
  danger?: boolean;
}

export interface MenuState {
  x: number;
  y: number;
  title: string;
  items: MenuItem[];
}

export function ContextMenu({ menu, onClose }: { menu: MenuState; onClose: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const away = (e: MouseEvent) => {
      if (!box.current?.contains(e.target as Node)) onClose();
    };
    const key = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("mousedown", away);
    window.addEventListener("keydown", key);
    return () => {
      window.removeEventListener("mousedown", away);
      window.removeEventListener("keydown", key);
    };
  }, [onClose]);
  // Keep the menu inside the window.
  const left = Math.min(menu.x, window.innerWidth - 280);
  const top = Math.min(menu.y, window.innerHeight - 40 - 30 * menu.items.length);
  return (
    <div ref={box} className="context-menu" role="menu" aria-label={menu.title} style={{ left, top }} data-testid="context-menu">
      <div className="context-title">{menu.title}</div>
      {menu.items.map((item, i) =>
        item.info ? (
          <div key={i} className="context-info" role="note">{item.label}</div>
        ) : (
          <button
            key={i}
            role="menuitem"
            className={item.danger ? "danger" : ""}
            disabled={!!item.disabled}
            title={item.disabled}
            onClick={() => {
              onClose();
              item.onSelect?.();
            }}
          >
            {item.label}
            {item.disabled && <span className="context-why">{item.disabled}</span>}
          </button>
        ),
      )}
    </div>
  );
}
